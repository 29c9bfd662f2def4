//! A lab of network namespaces for floatip's integration tests, benches and
//! demo.
//!
//! Every namespace a test makes is named `<prefix>-<pid>-<n>-<tag>`, so that
//! tests running in parallel never collide, is deleted when its
//! [`TestNs`] drops (also while unwinding from a panic), and is swept by a
//! later run if the process that made it died without cleaning up (its pid
//! is gone). Nothing here touches the root namespace's interfaces.
//!
//! State is read back through iproute2's JSON output ([`TestNs::ip_json`]),
//! an independent reader of what floatip wrote.

use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;

use floatip::Netns;
use serde_json::Value;

/// Prefix of every namespace the tests create.
pub const PREFIX: &str = "fipt";

static SWEEP: Once = Once::new();
static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Fails the test when not root: under `CI=true` a privileged test that
/// cannot run must fail, and locally too we never silently pass.
pub fn require_root() {
    // SAFETY: geteuid has no preconditions.
    #[allow(unsafe_code)]
    let euid = unsafe { libc::geteuid() };
    assert_eq!(euid, 0, "these tests need root (CAP_NET_ADMIN, CAP_SYS_ADMIN); run them with sudo or in CI");
}

/// Deletes namespaces named `PREFIX-PID-...` whose process is gone.
pub fn sweep_dead(prefix: &str) {
    for name in Netns::list().unwrap_or_default() {
        let Some(rest) = name.strip_prefix(&format!("{prefix}-")) else { continue };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else { continue };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = Netns::delete(&name);
        }
    }
}

/// A namespace owned by one test; deleted on drop.
#[derive(Debug)]
pub struct TestNs {
    /// The open namespace.
    pub ns: Netns,
    /// Its name under /run/netns.
    pub name: String,
}

impl TestNs {
    /// Creates `fipt-<pid>-<n>-<tag>`.
    pub fn new(tag: &str) -> TestNs {
        Self::with_prefix(PREFIX, tag)
    }

    /// Creates `<prefix>-<pid>-<n>-<tag>` (the demo uses its own prefix).
    pub fn with_prefix(prefix: &str, tag: &str) -> TestNs {
        require_root();
        SWEEP.call_once(|| sweep_dead(prefix));
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("{prefix}-{}-{n}-{tag}", std::process::id());
        let ns = Netns::create(&name).unwrap_or_else(|e| panic!("create {name}: {e}"));
        TestNs { ns, name }
    }

    /// A netlink handle inside this namespace.
    pub fn handle(&self) -> floatip::Handle {
        floatip::Handle::in_netns(&self.ns).expect("netlink handle")
    }

    /// Runs `ip -n NAME ARGS...`, panicking with its stderr on failure.
    pub fn ip(&self, args: &str) -> String {
        let out = self.ip_raw(args);
        assert!(out.status.success(), "ip -n {} {args}: {}", self.name, String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `ip -n NAME ARGS...` and returns its output whatever the status.
    pub fn ip_raw(&self, args: &str) -> Output {
        Command::new("ip").arg("-n").arg(&self.name).args(args.split_whitespace()).output().expect("run ip")
    }

    /// `ip -j -n NAME ARGS...` parsed as JSON (an array).
    pub fn ip_json(&self, args: &str) -> Vec<Value> {
        let out = Command::new("ip")
            .arg("-j")
            .arg("-n")
            .arg(&self.name)
            .args(args.split_whitespace())
            .output()
            .expect("run ip");
        assert!(out.status.success(), "ip -j -n {} {args}: {}", self.name, String::from_utf8_lossy(&out.stderr));
        let s = String::from_utf8_lossy(&out.stdout);
        if s.trim().is_empty() {
            return Vec::new();
        }
        match serde_json::from_str(&s).unwrap_or_else(|e| panic!("ip -j {args}: {e}: {s}")) {
            Value::Array(v) => v,
            other => vec![other],
        }
    }

    /// Runs a command inside the namespace (`ip netns exec NAME CMD...`).
    pub fn exec(&self, cmd: &[&str]) -> Output {
        Command::new("ip").args(["netns", "exec", &self.name]).args(cmd).output().expect("run ip netns exec")
    }

    /// Reads a sysctl through `ip netns exec NAME cat /proc/sys/...`, an
    /// independent reader of what floatip wrote.
    pub fn sysctl(&self, dotted: &str) -> String {
        let path = format!("/proc/sys/{}", dotted.replace('.', "/"));
        let out = self.exec(&["cat", &path]);
        assert!(out.status.success(), "cat {path}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// A normalized dump of the namespace's state (links, addresses,
    /// routes, neighbours including proxy entries), through iproute2, for
    /// "nothing changed" comparisons. Counters and timers are left out.
    pub fn snapshot(&self) -> String {
        let mut s = String::new();
        for args in [
            "-d link show",
            "addr show",
            "route show table all",
            "-6 route show table all",
            "neigh show",
            "neigh show proxy",
            "-6 neigh show proxy",
        ] {
            s.push_str(&format!("== ip {args}\n"));
            let out = self.ip(args);
            for line in out.lines() {
                // Drop fields that change on their own.
                let l: Vec<&str> = line.split_whitespace().collect();
                let mut keep = Vec::new();
                let mut skip = 0;
                for w in l {
                    if skip > 0 {
                        skip -= 1;
                        continue;
                    }
                    if matches!(w, "valid_lft" | "preferred_lft" | "expires" | "used" | "probes") {
                        skip = 1;
                        continue;
                    }
                    keep.push(w);
                }
                s.push_str(&keep.join(" "));
                s.push('\n');
            }
        }
        s
    }

    /// A fresh handle to the namespace.
    pub fn open(&self) -> Netns {
        self.ns.try_clone().expect("dup netns")
    }
}

impl Drop for TestNs {
    fn drop(&mut self) {
        if let Err(e) = Netns::delete(&self.name) {
            if !e.is_not_found() {
                eprintln!("netlab: delete {}: {e}", self.name);
            }
        }
    }
}

/// Finds the JSON object in `v` whose `key` equals `value`.
pub fn find<'a>(v: &'a [Value], key: &str, value: &str) -> Option<&'a Value> {
    v.iter().find(|o| o.get(key).and_then(Value::as_str) == Some(value))
}

/// True when a command exists on PATH.
pub fn have(cmd: &str) -> bool {
    Command::new("sh").args(["-c", &format!("command -v {cmd}")]).output().map(|o| o.status.success()).unwrap_or(false)
}
