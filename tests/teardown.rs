//! Teardown off the critical path (issue: tombstones): a kept `Host`'s
//! detach retires the veth (a tombstone) and its reaper deletes tombstones
//! in batches; after `flush()` the node is what a synchronous detach
//! leaves; churn from threads and processes with a LAN peer pinging the
//! live pods throughout; a process killed with tombstones pending.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use floatip::floating::{AttachmentState, FloatingIp, FloatingIpBuilder, NetnsRef, TOMBSTONE_GROUP};
use floatip::Host;
use netlab::{Lan, MadeNetns, TestNs};

const PROBE: &str = env!("CARGO_BIN_EXE_fip-probe");

/// `n` rounds, or a fraction of them where the run says so
/// (`FLOATIP_TEST_ROUNDS_DIVISOR`: the kernel lane, under emulation).
fn rounds(n: usize) -> usize {
    let d = std::env::var("FLOATIP_TEST_ROUNDS_DIVISOR").ok().and_then(|d| d.parse::<usize>().ok()).unwrap_or(1);
    (n / d.max(1)).max(1)
}

fn host(ns: &TestNs) -> Host {
    Host::open(NetnsRef::Name(ns.name.clone())).unwrap()
}

fn base(lan: &Lan, id: &str) -> FloatingIpBuilder {
    FloatingIp::builder(id, "up0").host_netns(NetnsRef::Name(lan.host_a.name.clone())).no_announce()
}

/// The tombstones in hostA, by name.
fn tombstones(ns: &TestNs) -> Vec<String> {
    ns.ip_json(&format!("link show group {TOMBSTONE_GROUP}"))
        .iter()
        // iproute2 prints an empty object for each link outside the group.
        .filter_map(|l| l["ifname"].as_str().map(str::to_owned))
        .collect()
}

/// What a retired veth must look like before the reaper has run: down, in
/// the tombstone group, nothing of the node's routing pointing at it, and
/// no verb taking it for a live attachment.
fn assert_retired(h: &Host, ns: &TestNs, f: &FloatingIp, case: &str) {
    let hv = f.host_ifname().as_str();
    let l = &ns.ip_json(&format!("link show dev {hv}"))[0];
    assert_eq!(l["group"].as_str(), Some(TOMBSTONE_GROUP.to_string().as_str()), "{case}: {l}");
    let flags: Vec<&str> = l["flags"].as_array().unwrap().iter().filter_map(|v| v.as_str()).collect();
    assert!(!flags.contains(&"UP"), "{case}: {flags:?}");
    for cmd in [
        format!("route show dev {hv}"),
        format!("-6 route show dev {hv}"),
        "route show proto 70".to_owned(),
        format!("rule show iif {hv}"),
        format!("-6 rule show iif {hv}"),
        "neigh show proxy".to_owned(),
    ] {
        if cmd.starts_with("-6") && !netlab::ipv6_available() {
            continue;
        }
        let out = ns.ip(&cmd);
        assert!(out.trim().is_empty(), "{case}: `ip {cmd}` after detach:\n{out}");
    }
    let found = h.list().unwrap();
    let mine: Vec<_> = found.iter().filter(|a| a.attachment_id.as_deref() == Some(f.attachment_id())).collect();
    assert_eq!(mine.len(), 1, "{case}: {found:?}");
    assert_eq!(mine[0].state, AttachmentState::Tombstone, "{case}: {found:?}");
    let drift = h.check(f).unwrap();
    assert!(drift.iter().any(|d| d.found.contains("tombstone")), "{case}: {drift:?}");
    // Reconcile must not bring anything of it back.
    assert!(h.reconcile().unwrap().is_empty(), "{case}");
}

/// For each dataplane the state after `detach` + `flush` equals what a
/// synchronous detach leaves, and in between the pod is unreachable.
#[test]
fn flush_leaves_what_a_synchronous_detach_leaves() {
    let v6 = netlab::ipv6_available();
    let mut cases = vec!["ipv4", "bridge", "vlan"];
    if v6 {
        cases.extend(["ipv6", "dual"]);
    }
    for case in cases {
        let lan = Lan::new(&format!("td{}", &case[..3]));
        let pod = TestNs::new(&format!("td{}-pod", &case[..3]));
        let ns = if case == "bridge" { &lan.host_b } else { &lan.host_a };
        let b = FloatingIp::builder(format!("td/{case}"), "up0")
            .host_netns(NetnsRef::Name(ns.name.clone()))
            .pod_netns_name(pod.name.clone())
            .no_announce();
        let (f, ping) = match case {
            "ipv4" => (b.ipv4("10.0.0.120/23", "10.0.0.1"), "10.0.0.120"),
            "ipv6" => (b.ipv6("2001:db8::120/64", "2001:db8::1"), "2001:db8::120"),
            "dual" => (b.ipv4("10.0.0.120/23", "10.0.0.1").ipv6("2001:db8::120/64", "2001:db8::1"), "2001:db8::120"),
            "bridge" => {
                netlab::bridge_uplink_ip(&lan.host_b);
                (b.ipv4("10.0.0.121/23", "10.0.0.1").bridge("br0"), "10.0.0.121")
            }
            "vlan" => {
                let made = lan.host_a.ip_raw("link add link up0 name up0.300 type vlan id 300");
                if !made.status.success() {
                    assert!(!netlab::kernel_must_have("8021q"), "{}", String::from_utf8_lossy(&made.stderr));
                    eprintln!("flush_leaves_what_a_synchronous_detach_leaves: no 8021q here: VLAN case skipped");
                    continue;
                }
                lan.host_a.ip("link del up0.300");
                // The gateway side of VLAN 300.
                lan.gw.ip("link add link lan0 name lan0.300 type vlan id 300");
                lan.gw.ip("addr add 10.0.30.1/24 dev lan0.300");
                lan.gw.ip("link set lan0.300 up");
                let f = b.ipv4("10.0.30.120/24", "10.0.30.1").vlan(300).lan_address("10.0.30.2/24");
                (f, "10.0.30.120")
            }
            _ => unreachable!(),
        };
        let f = f.build().unwrap();
        // The reaper waits for flush(): the tombstone is looked at first
        // (under emulation, longer than the default delay).
        let h = host(ns).with_reap_pace(std::time::Duration::from_secs(3600), usize::MAX);
        let from = if case == "vlan" { &lan.gw } else { &lan.peer };
        h.attach(&f).unwrap();
        assert!(from.ping_wait(ping, 2), "{case}: attached");
        h.detach_sync(&f).unwrap();
        let sync = ns.snapshot() + &pod.snapshot();

        h.attach(&f).unwrap();
        assert!(from.ping_wait(ping, 2), "{case}: attached again");
        let removed = h.detach(&f).unwrap();
        assert!(removed.iter().any(|r| r.contains("down group")), "{case}: {removed:?}");
        if case != "bridge" {
            assert_retired(&h, ns, &f, case);
        } else {
            assert_eq!(h.list().unwrap()[0].state, AttachmentState::Tombstone, "{case}");
        }
        assert!(!from.ping(ping), "{case}: a tombstone answered");
        h.flush().unwrap();
        assert!(tombstones(ns).is_empty(), "{case}");
        assert_eq!(ns.snapshot() + &pod.snapshot(), sync, "{case}: after flush");
        // A repeated detach changes nothing.
        assert!(h.detach(&f).unwrap().is_empty(), "{case}");
    }
}

/// A re-attach of the same attachment while its tombstone is pending, and
/// an attach of another attachment into the pod namespace a tombstone's
/// pod end still holds: both work at once.
#[test]
fn attach_over_a_pending_tombstone() {
    let lan = Lan::new("tdre");
    let pod = TestNs::new("tdre-pod");
    let h = host(&lan.host_a).with_reap_pace(std::time::Duration::from_secs(3600), usize::MAX);
    let f = base(&lan, "tdre/a").pod_netns_name(pod.name.clone()).ipv4("10.0.0.122/23", "10.0.0.1").build().unwrap();
    h.attach(&f).unwrap();
    h.detach(&f).unwrap();
    assert_eq!(tombstones(&lan.host_a), [f.host_ifname().to_string()]);
    h.attach(&f).unwrap();
    assert!(h.check(&f).unwrap().is_empty(), "{:?}", h.check(&f).unwrap());
    assert!(lan.peer.ping_wait("10.0.0.122", 2));
    assert!(tombstones(&lan.host_a).is_empty());
    h.detach(&f).unwrap();
    // Another attachment, another host veth name, the same pod interface.
    let g = base(&lan, "tdre/b").pod_netns_name(pod.name.clone()).ipv4("10.0.0.123/23", "10.0.0.1").build().unwrap();
    assert_ne!(g.host_ifname(), f.host_ifname());
    h.attach(&g).unwrap();
    assert!(h.check(&g).unwrap().is_empty(), "{:?}", h.check(&g).unwrap());
    assert!(lan.peer.ping_wait("10.0.0.123", 2));
    assert!(!lan.peer.ping("10.0.0.122"));
    h.detach_sync(&g).unwrap();
    h.flush().unwrap();
    assert!(tombstones(&lan.host_a).is_empty());
}

/// `ping -i 0.05` from the peer to `ip` until stopped: the loss tells
/// whether a live pod missed a reply during the churn.
struct Pinger {
    child: Option<Child>,
    ip: String,
}

impl Pinger {
    fn start(peer: &TestNs, ip: &str) -> Pinger {
        let child = Command::new("ip")
            .args(["netns", "exec", &peer.name, "ping", "-n", "-q", "-i", "0.05", ip])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Pinger { child: Some(child), ip: ip.to_owned() }
    }

    /// Stops it (SIGINT: ping prints its summary) and returns (sent, received).
    fn stop(mut self) -> (u32, u32) {
        let child = self.child.take().unwrap();
        // SAFETY: signals the child this test started and has not reaped.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let line = text.lines().find(|l| l.contains("packets transmitted")).unwrap_or_else(|| panic!("{text}"));
        let n: Vec<u32> = line.split(|c: char| !c.is_ascii_digit()).filter_map(|w| w.parse().ok()).collect();
        (n[0], n[1])
    }
}

impl Drop for Pinger {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Churn: two threads on one kept `Host` and two processes of their own,
/// each creating a pod netns, attaching, detaching (the netns goes with
/// it), with a LAN peer pinging three long-lived pods throughout: none
/// loses a reply, each churned pod answers while attached and never after
/// its detach, and nothing is left after the run.
#[test]
fn churn_from_threads_and_processes_keeps_live_pods_whole() {
    let lan = Lan::new("tdch");
    let h = host(&lan.host_a);
    // Shared settings once, so that the before/after snapshots compare
    // what is per pod.
    let warm = base(&lan, "tdch/warm").create_pod_netns(format!("{}-warm", lan.host_a.name));
    let warm = warm.ipv4("10.0.0.99/23", "10.0.0.1").build().unwrap();
    h.attach(&warm).unwrap();
    h.detach_sync(&warm).unwrap();
    let before = lan.host_a.snapshot();
    let pods: Vec<TestNs> = (0..3).map(|i| TestNs::new(&format!("tdch-live{i}"))).collect();
    let live: Vec<FloatingIp> = pods
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let ip = format!("10.0.0.{}/23", 130 + i);
            base(&lan, &format!("tdch/live{i}")).pod_netns_name(p.name.clone()).ipv4(ip, "10.0.0.1").build().unwrap()
        })
        .collect();
    for f in &live {
        h.attach(f).unwrap();
    }
    for i in 0..3 {
        assert!(lan.peer.ping_wait(&format!("10.0.0.{}", 130 + i), 2));
    }
    let pingers: Vec<Pinger> = (0..3).map(|i| Pinger::start(&lan.peer, &format!("10.0.0.{}", 130 + i))).collect();
    let n = rounds(12) as u32;
    let names: Vec<String> = (0..2).flat_map(|t| (0..n).map(move |i| format!("t{t}c{i}"))).collect();
    let _made = MadeNetns(
        names
            .iter()
            .map(|s| format!("{}-{s}", lan.host_a.name))
            .chain(
                (0..2).flat_map(|p| (0..n).map(move |i| (p, i))).map(|(p, i)| format!("{}-p{p}{i}", lan.host_a.name)),
            )
            .collect(),
    );
    let procs: Vec<Child> = (0..2u32)
        .map(|p| {
            Command::new(PROBE)
                .args(["churn", &lan.host_a.name, &format!("p{p}"), &n.to_string(), &(10 + p * 60).to_string()])
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    std::thread::scope(|s| {
        for t in 0..2u32 {
            let (h, lan) = (&h, &lan);
            s.spawn(move || {
                for i in 0..n {
                    let ip = format!("10.0.0.{}", 150 + t * 40 + i);
                    let f = base(lan, &format!("tdch/t{t}c{i}"))
                        .create_pod_netns(format!("{}-t{t}c{i}", lan.host_a.name))
                        .ipv4(format!("{ip}/23"), "10.0.0.1")
                        .build()
                        .unwrap();
                    h.attach(&f).unwrap();
                    assert!(lan.peer.ping_wait(&ip, 2), "{ip} attached");
                    h.detach(&f).unwrap();
                    assert!(!lan.peer.ping(&ip), "{ip} answered after its detach");
                }
            });
        }
    });
    for p in procs {
        let o = p.wait_with_output().unwrap();
        assert!(o.status.success());
        assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), format!("ok {n}"));
    }
    for p in pingers {
        let ip = p.ip.clone();
        let (sent, got) = p.stop();
        assert!(sent > 10, "{ip}: {sent} sent");
        assert_eq!(sent, got, "{ip}: a live pod lost replies during the churn");
    }
    for f in &live {
        assert!(h.check(f).unwrap().is_empty(), "{:?}", h.check(f).unwrap());
        h.detach(f).unwrap();
    }
    h.flush().unwrap();
    assert!(tombstones(&lan.host_a).is_empty());
    assert_eq!(lan.host_a.snapshot(), before);
    let left: Vec<String> = floatip::Netns::list()
        .unwrap()
        .into_iter()
        .filter(|n| n.starts_with(&format!("{}-", lan.host_a.name)))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// A process killed with tombstones pending: they stay retired (nothing
/// reaches them), and the next `Host` reaps them. `gc` reaps tombstones
/// too, whoever made them.
#[test]
fn sigkill_with_pending_tombstones_next_host_or_gc_reaps() {
    let lan = Lan::new("tdkill");
    let pods: Vec<TestNs> = (0..4).map(|i| TestNs::new(&format!("tdkill-p{i}"))).collect();
    let names: Vec<&str> = pods.iter().map(|p| p.name.as_str()).collect();
    let pods_clean = |what: &str| {
        for p in &pods {
            let links = p.ip("-br link show");
            assert_eq!(links.lines().count(), 1, "{what}: {links}");
        }
    };
    let mut child = Command::new(PROBE)
        .args(["tombstones", &lan.host_a.name, "40"])
        .args(&names)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready");
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(tombstones(&lan.host_a).len(), 4);
    assert!(!lan.peer.ping("10.0.1.40"), "a tombstone answered");
    let h = host(&lan.host_a).with_reap_pace(std::time::Duration::from_secs(3600), usize::MAX);
    h.flush().unwrap();
    assert!(tombstones(&lan.host_a).is_empty(), "the next Host");
    pods_clean("the next Host");

    // Tombstones of a Host whose reaper waits: gc deletes them.
    for (i, p) in names.iter().enumerate() {
        let ip = format!("10.0.1.{}/23", 40 + i);
        let f = base(&lan, &format!("tdkill/{i}")).pod_netns_name(*p).ipv4(ip, "10.0.0.1").build().unwrap();
        h.attach(&f).unwrap();
        h.detach(&f).unwrap();
    }
    assert_eq!(tombstones(&lan.host_a).len(), 4);
    let removed = h.gc(std::iter::empty()).unwrap();
    assert!(removed.iter().any(|r| r.contains("tombstones")), "{removed:?}");
    assert!(tombstones(&lan.host_a).is_empty(), "gc");
    pods_clean("gc");
}
