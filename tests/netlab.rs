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
    /// routes, permanent and proxy neighbour entries), through iproute2, for
    /// "nothing changed" comparisons. Counters, timers and the neighbour
    /// cache's learned entries (traffic, not configuration) are left out.
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

/// Names of namespaces that the code under test creates (attach with
/// `create_pod_netns`): deleted on drop, so a failing test leaves none.
pub struct MadeNetns(pub Vec<String>);

impl Drop for MadeNetns {
    fn drop(&mut self) {
        for n in &self.0 {
            if let Err(e) = Netns::delete(n) {
                if !e.is_not_found() {
                    eprintln!("netlab: delete {n}: {e}");
                }
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

/// The simulated LAN of `DESIGN.md` §4: a `switch` namespace holding bridge
/// `br0`; `hostA`, `hostB`, a gateway `gw` and a `peer`, each joined to the
/// bridge by a veth. Everything is dual stack:
///
/// | netns | interface | IPv4 | IPv6 | MAC |
/// |---|---|---|---|---|
/// | gw | lan0 | 10.0.0.1/23 | 2001:db8::1/64 | 02:00:00:00:01:01 |
/// | host_a | up0 | 10.0.0.2/23 | 2001:db8::2/64 | 02:00:00:00:0a:01 |
/// | host_b | up0 | 10.0.0.3/23 | 2001:db8::3/64 | 02:00:00:00:0b:01 |
/// | peer | lan0 | 10.0.0.7/23 | 2001:db8::7/64 | 02:00:00:00:07:01 |
pub struct Lan {
    /// The switch: bridge `br0` with one port per member.
    pub switch: TestNs,
    /// Node A (its uplink is `up0`).
    pub host_a: TestNs,
    /// Node B (its uplink is `up0`).
    pub host_b: TestNs,
    /// The LAN gateway.
    pub gw: TestNs,
    /// A LAN neighbour that talks to the pods.
    pub peer: TestNs,
}

/// MAC of hostA's uplink.
pub const HOST_A_MAC: &str = "02:00:00:00:0a:01";
/// MAC of hostB's uplink.
pub const HOST_B_MAC: &str = "02:00:00:00:0b:01";

impl Lan {
    /// Builds the LAN with `prefix` for the namespace names.
    pub fn with_prefix(prefix: &str, tag: &str) -> Lan {
        use floatip::{AddrOptions, IfName, Mac, VethSpec};
        let mk = |t: &str| TestNs::with_prefix(prefix, &format!("{tag}-{t}"));
        let lan = Lan { switch: mk("sw"), host_a: mk("hostA"), host_b: mk("hostB"), gw: mk("gw"), peer: mk("peer") };
        let sw = lan.switch.handle();
        sw.bridge_add(&IfName::new("br0").unwrap()).unwrap();
        let br = sw.link_get("br0").unwrap().index;
        sw.link_set_up(br).unwrap();
        type Member<'a> = (&'a TestNs, &'a str, &'a str, &'a str, &'a str, [u8; 6]);
        let members: [Member; 4] = [
            (&lan.gw, "lan0", "p-gw", "10.0.0.1/23", "2001:db8::1/64", [2, 0, 0, 0, 1, 1]),
            (&lan.host_a, "up0", "p-a", "10.0.0.2/23", "2001:db8::2/64", [2, 0, 0, 0, 0x0a, 1]),
            (&lan.host_b, "up0", "p-b", "10.0.0.3/23", "2001:db8::3/64", [2, 0, 0, 0, 0x0b, 1]),
            (&lan.peer, "lan0", "p-peer", "10.0.0.7/23", "2001:db8::7/64", [2, 0, 0, 0, 7, 1]),
        ];
        for (ns, ifname, port, v4, v6, mac) in members {
            let mut v = VethSpec::new(IfName::new(port).unwrap(), IfName::new(ifname).unwrap());
            v.peer_netns = Some(&ns.ns);
            v.peer_mac = Some(Mac(mac));
            sw.veth_add(&v).unwrap();
            let p = sw.link_get(port).unwrap().index;
            sw.link_set_master(p, Some(br)).unwrap();
            sw.link_set_up(p).unwrap();
            let h = ns.handle();
            let i = h.link_get(ifname).unwrap().index;
            // A fresh LAN in a test: no DAD, so that link-local addresses are
            // usable at once and do not change state (tentative -> valid)
            // in the middle of a before/after comparison.
            let dad = floatip::SysctlKey::ipv6_conf(&IfName::new(ifname).unwrap(), "accept_dad").unwrap();
            ns.ns.sysctl_set(&dad, "0").unwrap();
            h.link_set_up(i).unwrap();
            h.link_set_up(1).unwrap();
            h.addr_add(i, v4.parse().unwrap(), AddrOptions::default()).unwrap();
            h.addr_add(i, v6.parse().unwrap(), AddrOptions { nodad: true, ..Default::default() }).unwrap();
        }
        // No MLD querier runs on this LAN: with snooping on, the bridge
        // drops solicited-node multicast (IPv6 NS) until members' delayed
        // MLD reports arrive, and first resolutions take seconds.
        lan.switch.ip("link set br0 type bridge mcast_snooping 0");
        // The switch forwards frames only; it must not filter bridged IP
        // traffic through its own (empty) iptables.
        let _ = lan.switch.exec(&["sh", "-c", "echo 0 > /proc/sys/net/bridge/bridge-nf-call-iptables"]);
        lan
    }

    /// Builds the LAN with the tests' prefix.
    pub fn new(tag: &str) -> Lan {
        Self::with_prefix(PREFIX, tag)
    }
}

impl TestNs {
    /// `ping -c 1 -W 1 DST` from this namespace: true when a reply came.
    pub fn ping(&self, dst: &str) -> bool {
        self.ping_wait(dst, 1)
    }

    /// `ping -c 1 -W SECS DST`.
    pub fn ping_wait(&self, dst: &str, secs: u32) -> bool {
        assert!(have("ping"), "ping is missing: `make test` installs iputils-ping");
        self.exec(&["ping", "-n", "-q", "-c", "1", "-W", &secs.to_string(), dst]).status.success()
    }

    /// The MAC this namespace's neighbour cache holds for `ip`, if any
    /// (as `ip -j neigh show IP` reports it; FAILED/INCOMPLETE count as none).
    pub fn neigh_mac(&self, ip: &str) -> Option<String> {
        let j = self.ip_json(&format!("neigh show {ip}"));
        j.first().and_then(|e| e.get("lladdr")).and_then(Value::as_str).map(str::to_owned)
    }
}
