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

use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;
use std::time::{Duration, Instant};

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

    /// Reads many sysctls with one `ip netns exec NAME cat ...` (each exec
    /// mounts a sysfs, which is slow in an emulated VM): `key=value` lines.
    pub fn sysctls(&self, dotted: &[&str]) -> String {
        let paths: Vec<String> = dotted.iter().map(|d| format!("/proc/sys/{}", d.replace('.', "/"))).collect();
        let mut cmd = vec!["cat"];
        cmd.extend(paths.iter().map(String::as_str));
        let out = self.exec(&cmd);
        assert!(out.status.success(), "cat {paths:?}: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout);
        let values: Vec<&str> = text.lines().collect();
        assert_eq!(values.len(), dotted.len(), "{text}");
        dotted.iter().zip(values).map(|(k, v)| format!("{k}={v}\n")).collect()
    }

    /// A normalized dump of the namespace's configuration (links,
    /// addresses, routes, neighbour and proxy entries), through iproute2,
    /// for "nothing changed" comparisons. It compares state, not timing:
    /// what the kernel changes on its own schedule is left out or settled
    /// first, so that two snapshots of the same configuration are equal on
    /// a fast host and in a slow emulated VM alike.
    ///
    /// - IPv6 duplicate address detection: the `tentative` flag is dropped,
    ///   and so is the `local` route of a link-local address, which the
    ///   kernel adds to table local only once DAD for the address completed
    ///   (`addrconf_dad_completed()` in `net/ipv6/addrconf.c`); the
    ///   link-local addresses themselves are compared.
    /// - Operational state (`state UP`/`LOWERLAYERDOWN`, the `LOWER_UP`,
    ///   `NO-CARRIER`, `DORMANT` and `M-DOWN` flags, a route's `linkdown`)
    ///   follows carrier and is applied asynchronously by linkwatch
    ///   (`net/core/link_watch.c`, rate-limited to once a second), so it
    ///   records when the kernel got to it, not what was configured. The
    ///   administrative `UP` flag is kept.
    /// - Neighbour entries are compared by (ip, device, MAC, permanent or
    ///   noarp), and only those someone configured: the NUD state of a
    ///   learned entry (REACHABLE, STALE, DELAY, PROBE) moves with timers,
    ///   and learned entries come and go with traffic (a router, which a
    ///   host with forwarding on is, learns an entry from every router
    ///   solicitation it receives, RFC 4861 §6.2.6). Proxy entries are
    ///   compared in full.
    /// - Counters and timers (`valid_lft`, `expires`, `used`, ...).
    pub fn snapshot(&self) -> String {
        // One `ip -batch` for the text dumps and one JSON dump for the
        // neighbours: in an emulated VM each process costs tens of ms, and
        // tests take hundreds of snapshots. `route show table all` and
        // `neigh show proxy` list both families.
        let mut s = String::from("== ip -d link, addr, route table all, rule\n");
        for line in self.ip_batch(&["link show", "addr show", "route show table all", "rule show"]).lines() {
            if !line.starts_with("local fe80:") {
                s.push_str(&normalize_line(line));
                s.push('\n');
            }
        }
        if ipv6_available() {
            s.push_str("== ip -6 rule\n");
            for line in self.ip("-6 rule show").lines() {
                s.push_str(&normalize_line(line));
                s.push('\n');
            }
        }
        s.push_str("== ip neigh show (configured entries)\n");
        let mut neigh: Vec<String> = self
            .ip_json("neigh show")
            .iter()
            .filter_map(|e| {
                let states: Vec<&str> =
                    e["state"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
                let kind = ["PERMANENT", "NOARP"].into_iter().find(|k| states.contains(k))?;
                Some(format!(
                    "{} dev {} lladdr {} {kind}",
                    e["dst"].as_str().unwrap_or("?"),
                    e["dev"].as_str().unwrap_or("?"),
                    e["lladdr"].as_str().unwrap_or("none")
                ))
            })
            .collect();
        neigh.sort();
        s.push_str("== ip neigh show proxy\n");
        neigh.extend(self.ip("neigh show proxy").lines().map(normalize_line));
        for n in neigh {
            s.push_str(&n);
            s.push('\n');
        }
        s
    }

    /// `ip -d -n NAME -batch -` with `cmds`, one a line: their outputs in
    /// order, panicking with stderr on failure.
    pub fn ip_batch(&self, cmds: &[&str]) -> String {
        use std::io::Write;
        let mut child = Command::new("ip")
            .args(["-d", "-n", &self.name, "-batch", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run ip -batch");
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all((cmds.join("\n") + "\n").as_bytes()).unwrap();
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "ip -batch {cmds:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
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

/// One line of `ip` output without the fields that change on their own
/// (see [`TestNs::snapshot`]).
fn normalize_line(line: &str) -> String {
    let mut keep = Vec::new();
    let mut words = line.split_whitespace();
    while let Some(w) = words.next() {
        match w {
            // A field and its value.
            "valid_lft" | "preferred_lft" | "expires" | "used" | "probes" | "state" => {
                words.next();
            }
            // A bridge's and its ports' running timers.
            _ if w.ends_with("_timer") => {
                words.next();
            }
            "tentative" | "linkdown" => {}
            _ if w.starts_with('<') && w.ends_with('>') => {
                let flags: Vec<&str> = w[1..w.len() - 1]
                    .split(',')
                    .filter(|f| !matches!(*f, "LOWER_UP" | "NO-CARRIER" | "DORMANT" | "M-DOWN"))
                    .collect();
                keep.push(format!("<{}>", flags.join(",")));
            }
            _ => keep.push(w.to_owned()),
        }
    }
    keep.join(" ")
}

/// True when the kernel has IPv6: a kernel booted with `ipv6.disable=1`
/// (or built without it) has no `/proc/sys/net/ipv6`.
pub fn ipv6_available() -> bool {
    std::path::Path::new("/proc/sys/net/ipv6").exists()
}

/// True when the test run was told that this kernel has `feature` (the
/// kernel lane sets `FLOATIP_TEST_KERNEL_HAS=8021q,bonding` in the VM after
/// loading the modules): then a test must not settle for the kernel's
/// "not supported" answer, which elsewhere is the expected result.
pub fn kernel_must_have(feature: &str) -> bool {
    std::env::var("FLOATIP_TEST_KERNEL_HAS").is_ok_and(|v| v.split(',').any(|f| f.trim() == feature))
}

/// How `br_netfilter` (bridged frames through iptables) is present, which
/// decides what `net.bridge.bridge-nf-call-iptables` means in a namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrNetfilter {
    /// Built into the kernel: every new namespace has `/proc/sys/net/bridge`
    /// (with `bridge-nf-call-iptables=1`).
    BuiltIn,
    /// A module, loaded (by this test run with `modprobe br_netfilter` if it
    /// was not already).
    Module,
    /// Neither: bridged frames never pass through iptables (as with
    /// `bridge-nf-call-iptables=0`), and there is no sysctl to set.
    Absent,
}

/// Finds out, from inside `ns`, how `br_netfilter` is present, loading the
/// module when the kernel has it as one.
pub fn br_netfilter(ns: &TestNs) -> BrNetfilter {
    let has_sysctl = || ns.exec(&["test", "-d", "/proc/sys/net/bridge"]).status.success();
    let loaded_module =
        || std::fs::read_to_string("/proc/modules").is_ok_and(|m| m.lines().any(|l| l.starts_with("br_netfilter ")));
    if has_sysctl() {
        return if loaded_module() { BrNetfilter::Module } else { BrNetfilter::BuiltIn };
    }
    if have("modprobe") && Command::new("modprobe").arg("br_netfilter").status().is_ok_and(|s| s.success()) {
        assert!(has_sysctl(), "br_netfilter loaded, yet {} has no /proc/sys/net/bridge", ns.name);
        return BrNetfilter::Module;
    }
    BrNetfilter::Absent
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

/// The simulated LAN (`docs/testing.md`, "The simulated LAN"): a `switch`
/// namespace holding bridge `br0`; `hostA`, `hostB`, a gateway `gw` and a
/// `peer`, each joined to the bridge by a veth. Everything is dual stack (IPv4 only on a kernel
/// without IPv6):
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
        // Dual stack, unless the kernel has no IPv6 (booted with
        // `ipv6.disable=1`): then the LAN is IPv4 only.
        let dual = ipv6_available();
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
            if dual {
                // A fresh LAN in a test: no DAD, so that link-local addresses
                // are usable at once and do not change state (tentative ->
                // valid) in the middle of a before/after comparison.
                let dad = floatip::SysctlKey::ipv6_conf(&IfName::new(ifname).unwrap(), "accept_dad").unwrap();
                ns.ns.sysctl_set(&dad, "0").unwrap();
            }
            h.link_set_up(i).unwrap();
            h.link_set_up(1).unwrap();
            h.addr_add(i, v4.parse().unwrap(), AddrOptions::default()).unwrap();
            if dual {
                h.addr_add(i, v6.parse().unwrap(), AddrOptions::default().nodad(true)).unwrap();
            }
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

/// Moves hostB's uplink into a bridge `br0`, as the write-up's bridge mode
/// does (the host address moves to the bridge). Through netlink, so the
/// address on `br0` gets its broadcast (`brd 10.0.1.255`).
pub fn bridge_uplink(host: &TestNs) {
    let hb = host.handle();
    hb.bridge_add(&"br0".parse().unwrap()).unwrap();
    let br = hb.link_get("br0").unwrap().index;
    let up0 = hb.link_get("up0").unwrap().index;
    hb.addr_del(up0, "10.0.0.3/23".parse().unwrap()).unwrap();
    hb.link_set_master(up0, Some(br)).unwrap();
    hb.addr_add(br, "10.0.0.3/23".parse().unwrap(), Default::default()).unwrap();
    no_dad(host, "br0");
    hb.link_set_up(br).unwrap();
    settle_ipv6(host, "br0");
}

/// hostB's uplink in a bridge with hostB's address on it, for bridge mode:
/// the steps of [`bridge_uplink`] with `ip`, whose `addr add` (no `brd`)
/// leaves the address on `br0` without a broadcast.
pub fn bridge_uplink_ip(ns: &TestNs) {
    ns.ip("link add br0 type bridge");
    ns.ip("addr del 10.0.0.3/23 dev up0");
    ns.ip("link set up0 master br0");
    ns.ip("addr add 10.0.0.3/23 dev br0");
    no_dad(ns, "br0");
    ns.ip("link set br0 up");
    settle_ipv6(ns, "br0");
}

/// `accept_dad=0` on `ifname` (when the kernel has IPv6): its link-local
/// address is valid at once instead of tentative for a second or more.
fn no_dad(ns: &TestNs, ifname: &str) {
    if ipv6_available() {
        let dad = floatip::SysctlKey::ipv6_conf(&floatip::IfName::new(ifname).unwrap(), "accept_dad").unwrap();
        ns.ns.sysctl_set(&dad, "0").unwrap();
    }
}

/// Waits (up to 20 s) until a device just set up has its IPv6 link-local
/// address. The kernel adds it, with its `fe80::/64` and `ff00::/8` routes,
/// only when the device gets carrier, which linkwatch applies
/// asynchronously (rate-limited to once a second, and much later under
/// emulation); a bridge gets carrier only once a port has it. A snapshot
/// taken before that differs from one taken after for no change of
/// anyone's, so helpers that create devices wait for it here.
fn settle_ipv6(ns: &TestNs, ifname: &str) {
    if !ipv6_available() {
        return;
    }
    let t0 = Instant::now();
    while ns.ip(&format!("-6 addr show dev {ifname} scope link")).trim().is_empty() {
        assert!(t0.elapsed() < Duration::from_secs(20), "{ifname}: no IPv6 link-local address after 20 s");
        std::thread::sleep(Duration::from_millis(50));
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

/// A tcpdump capture on one interface of a test namespace: tcpdump is the
/// independent reader of what went on the wire. Dropped without
/// [`Capture::decode_when`] (a test that panics first), it stops its tcpdump
/// and removes its file, so that no tcpdump keeps a namespace alive.
pub struct Capture {
    child: Option<Child>,
    file: String,
}

impl Capture {
    /// Starts `tcpdump -i IFACE FILTER` inside `ns`, writing to a file, and
    /// returns once it listens.
    pub fn start(ns: &TestNs, iface: &str, filter: &str) -> Capture {
        assert!(have("tcpdump"), "tcpdump is missing: `make test` installs it");
        let file = format!("/tmp/{}-{iface}-cap.pcap", ns.name);
        let child = Command::new("ip")
            .args(["netns", "exec", &ns.name, "tcpdump", "-i", iface, "--immediate-mode", "-U", "-n", "-w", &file])
            .args(filter.split_whitespace())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // tcpdump creates the file once it has opened the interface.
        let t = Instant::now();
        while !std::path::Path::new(&file).exists() && t.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(200));
        Capture { child: Some(child), file }
    }

    /// tcpdump's own decoding of what the file holds so far (`-e -vv`: with
    /// link-layer headers, so 802.1Q tags show as `vlan N`).
    fn read(&self) -> std::io::Result<Output> {
        Command::new("tcpdump").args(["-r", &self.file, "-n", "-e", "-vv"]).output()
    }

    /// Waits until the frames captured so far satisfy `done` (polling the
    /// file tcpdump writes packet by packet, at most 10 s: a slow emulated
    /// VM may take long to get tcpdump scheduled), then stops tcpdump and
    /// returns the decoded lines. Stopping after a fixed delay instead
    /// loses frames tcpdump has not read yet.
    pub fn decode_when(mut self, done: impl Fn(&[String]) -> bool) -> Vec<String> {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            if let Ok(out) = self.read() {
                let lines: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect();
                if done(&lines) {
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let child = self.child.take().expect("a capture is decoded once");
        // SAFETY: signalling the tcpdump child this capture started.
        #[allow(unsafe_code)]
        unsafe {
            libc::kill(child.id() as i32, libc::SIGINT);
        }
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let out = Command::new("tcpdump").args(["-r", &self.file, "-n", "-e", "-vv"]).output().unwrap();
        assert!(out.status.success(), "tcpdump -r: {}; capture said: {stderr}", String::from_utf8_lossy(&out.stderr));
        let _ = std::fs::remove_file(&self.file);
        String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: signalling the tcpdump child this capture started
            // (not yet reaped, so the pid is still its).
            #[allow(unsafe_code)]
            unsafe {
                libc::kill(child.id() as i32, libc::SIGINT);
            }
            let _ = child.wait();
            let _ = std::fs::remove_file(&self.file);
        }
    }
}

/// The frames of a `tcpdump -e -vv` decode, one string each: tcpdump prints
/// the IPv4 header and the ICMP line of one frame on two lines.
/// (Decode with [`Capture::decode_when`].)
pub fn frames(lines: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for l in lines {
        match out.last_mut() {
            Some(last) if l.starts_with(char::is_whitespace) => {
                last.push(' ');
                last.push_str(l.trim());
            }
            _ => out.push(l.trim().to_owned()),
        }
    }
    out
}
