//! Failover end to end, at scale (issue: moves): a node holding many pods
//! fails, and the pods are attached again on another node, as a node agent
//! does after the rescheduling.
//!
//! hostA holds N pods (64; fewer under `FLOATIP_TEST_ROUNDS_DIVISOR`, the
//! kernel lane) that the LAN peer and the gateway have pinged, so that
//! their ARP entries for every pod IP name hostA's MAC. hostA's uplink goes
//! down (the node fails) and its pods are gone. A negative control first: a subset attached on
//! hostB without announcing stays unreachable, the peer's and the
//! gateway's entries still name hostA. Then every pod is attached on hostB
//! with a kept `Host`, its namespace created by the attach, announcing
//! (the default: three rounds); the subset again, now announcing (an attach
//! of what is there changes nothing and announces again); each pod's link
//! is operationally up once its attach returned (announced earlier, its
//! first ARP reply can be lost). Then EVERY pod, not a sample, answers the
//! peer's ping, and the peer's and the gateway's entries for every IP name
//! hostB's MAC. Then everything is detached and
//! flushed, and nothing is left. No timing is asserted (the machine is
//! shared); the phases' durations are printed.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use floatip::floating::{FloatingIp, NetnsRef};
use floatip::Host;
use netlab::{Lan, MadeNetns, TestNs, HOST_A_MAC, HOST_B_MAC, PREFIX};

/// Pods on the failing node.
const PODS: usize = 64;
/// Every `SUBSET`-th pod is the negative control's.
const SUBSET: usize = 8;

/// `n`, or a fraction of it where the run says so (the kernel lane, under
/// emulation), at least `min`.
fn scaled(n: usize, min: usize) -> usize {
    let d = std::env::var("FLOATIP_TEST_ROUNDS_DIVISOR").ok().and_then(|d| d.parse::<usize>().ok()).unwrap_or(1);
    (n / d.max(1)).max(min)
}

/// Pod `k`'s floating IP: 10.0.0.100 + k, in the LAN's 10.0.0.0/23.
fn ip(k: usize) -> String {
    let n = 100 + k;
    format!("10.0.{}.{}", n / 256, n % 256)
}

/// Pod `k`'s spec on `host`; its namespace (`side` a or b) is made by the
/// attach and deleted by the detach. The same pod key on both nodes, as
/// after a rescheduling.
fn spec(host: &TestNs, side: &str, k: usize, announce: bool) -> FloatingIp {
    let b = FloatingIp::builder(format!("default/fo-{k}"), "up0")
        .host_netns(NetnsRef::Name(host.name.clone()))
        .create_pod_netns(pod_netns(side, k))
        .ipv4(format!("{}/23", ip(k)), "10.0.0.1");
    if announce { b } else { b.no_announce() }.build().unwrap()
}

/// `fipt-<pid>-fo-<side><k>`: swept like the lab's own names when this
/// process dies.
fn pod_netns(side: &str, k: usize) -> String {
    format!("{PREFIX}-{}-fo-{side}{k}", std::process::id())
}

/// One `ping -c 1 -W SECS` from `ns` to each IP, up to 16 at a time: whether
/// each answered.
fn ping_all(ns: &TestNs, ips: &[String], secs: u32) -> Vec<bool> {
    assert!(netlab::have("ping"), "ping is missing: `make test` installs iputils-ping");
    let mut ok = Vec::with_capacity(ips.len());
    for chunk in ips.chunks(16) {
        let children: Vec<Child> = chunk
            .iter()
            .map(|ip| {
                Command::new("ip")
                    .args(["netns", "exec", &ns.name, "ping", "-n", "-q", "-c", "1", "-W", &secs.to_string(), ip])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("run ping")
            })
            .collect();
        ok.extend(children.into_iter().map(|mut c| c.wait().expect("wait for ping").success()));
    }
    ok
}

/// The MAC each IP's entry names in `ns`'s neighbour cache (one dump), or
/// `"none"` (no entry, or one without an address: FAILED, INCOMPLETE).
fn macs(ns: &TestNs, ips: &[String]) -> Vec<String> {
    let table: HashMap<String, String> = ns
        .ip_json("neigh show dev lan0")
        .iter()
        .filter_map(|e| Some((e["dst"].as_str()?.to_owned(), e["lladdr"].as_str()?.to_owned())))
        .collect();
    ips.iter().map(|ip| table.get(ip).cloned().unwrap_or_else(|| "none".into())).collect()
}

/// The IPs whose entry in `ns` does not name `mac`, with what it names.
fn not_naming(ns: &TestNs, ips: &[String], mac: &str) -> Vec<String> {
    ips.iter().zip(macs(ns, ips)).filter(|(_, m)| m != mac).map(|(ip, m)| format!("{ip} -> {m}")).collect()
}

/// Polls (no fixed sleep) until every IP's entry in `ns` names `mac`, at
/// most `limit`; returns the IPs that still do not.
fn until_all_name(ns: &TestNs, ips: &[String], mac: &str, limit: Duration) -> Vec<String> {
    let t = Instant::now();
    loop {
        let left = not_naming(ns, ips, mac);
        if left.is_empty() || t.elapsed() > limit {
            return left;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `ip -j -n POD link show eth0`: the pod's end, read by iproute2.
fn pod_link(pod: &str) -> Vec<serde_json::Value> {
    let out = Command::new("ip").args(["-j", "-n", pod, "link", "show", "eth0"]).output().expect("run ip");
    assert!(out.status.success(), "ip -n {pod} link show eth0: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("ip -j")
}

/// The IPs (of `ips`) whose ping failed, or succeeded when `want` is false.
fn unlike(ips: &[String], ok: &[bool], want: bool) -> Vec<String> {
    ips.iter().zip(ok).filter(|(_, o)| **o != want).map(|(ip, _)| ip.clone()).collect()
}

/// What floatip left on a host: its attachments (veths, tombstones,
/// orphans), proxy entries on the uplink, veths of any kind.
fn leftovers(host: &Host, ns: &TestNs) -> Vec<String> {
    let mut left: Vec<String> = host.list().unwrap().iter().map(|a| format!("{a:?}")).collect();
    left.extend(ns.ip("neigh show proxy").lines().map(|l| format!("proxy entry {l}")));
    for l in ns.ip_json("link show") {
        let name = l["ifname"].as_str().unwrap_or("?");
        if !["lo", "up0"].contains(&name) {
            left.push(format!("link {name}"));
        }
    }
    left
}

#[test]
fn every_pod_of_a_failed_node_answers_from_the_new_node() {
    let n = scaled(PODS, SUBSET);
    let lan = Lan::new("fo");
    let _made = MadeNetns(["a", "b"].iter().flat_map(|s| (0..n).map(move |k| pod_netns(s, k))).collect());
    let ips: Vec<String> = (0..n).map(ip).collect();
    let subset: Vec<usize> = (0..n).step_by(SUBSET).collect();
    let subset_ips: Vec<String> = subset.iter().map(|&k| ip(k)).collect();
    let t = Instant::now();

    // The peer's and the gateway's entries stay REACHABLE for 60-180 s
    // (base 120 s instead of 30 s, in their namespaces only), so that the
    // negative control below cannot be undone by the entries aging out
    // and re-resolving through hostB's proxy entries, however slow the
    // machine (the kernel lane runs this under emulation).
    for observer in [&lan.peer, &lan.gw] {
        let out = observer.exec(&["sh", "-c", "echo 120000 > /proc/sys/net/ipv4/neigh/lan0/base_reachable_time_ms"]);
        assert!(out.status.success(), "{}: {}", observer.name, String::from_utf8_lossy(&out.stderr));
    }

    // hostA holds the pods, and the peer and the gateway talk to each.
    let host_a = Host::open(NetnsRef::Name(lan.host_a.name.clone())).unwrap();
    let on_a: Vec<FloatingIp> = (0..n).map(|k| spec(&lan.host_a, "a", k, false)).collect();
    for f in &on_a {
        host_a.attach(f).unwrap();
    }
    for observer in [&lan.peer, &lan.gw] {
        let ok = ping_all(observer, &ips, 2);
        assert_eq!(
            unlike(&ips, &ok, true),
            Vec::<String>::new(),
            "{}: pods on hostA that did not answer",
            observer.name
        );
        assert_eq!(
            not_naming(observer, &ips, HOST_A_MAC),
            Vec::<String>::new(),
            "{}: entries not naming hostA",
            observer.name
        );
    }
    let seeded = t.elapsed();

    // hostA fails, and its pods with it: detached there now, which also
    // keeps this machine's one ARP table (every namespace's entries count
    // against `gc_thresh2` = 512, past which the kernel collects any
    // namespace's older entries) small for the tests running beside this.
    lan.host_a.ip("link set up0 down");
    for f in &on_a {
        host_a.detach(f).unwrap();
    }
    host_a.flush().unwrap();
    assert_eq!(leftovers(&host_a, &lan.host_a), Vec::<String>::new(), "hostA: left after detach and flush");

    // Negative control: the subset attached on hostB without announcing.
    // The peer's and the gateway's entries (REACHABLE or STALE, 15-45 s
    // after the pings above) still send to hostA's MAC, where nothing
    // answers, and the kernel does not look again before they age out.
    let host_b = Host::open(NetnsRef::Name(lan.host_b.name.clone())).unwrap();
    for &k in &subset {
        let done = host_b.attach(&spec(&lan.host_b, "b", k, false)).unwrap();
        assert!(done.announced.is_empty(), "{done}");
    }
    let ok = ping_all(&lan.peer, &subset_ips, 1);
    assert_eq!(unlike(&subset_ips, &ok, false), Vec::<String>::new(), "answered without an announcement");
    for observer in [&lan.peer, &lan.gw] {
        assert_eq!(
            not_naming(observer, &subset_ips, HOST_A_MAC),
            Vec::<String>::new(),
            "{}: entries that moved without an announcement",
            observer.name
        );
    }
    let control = t.elapsed();

    // Every pod attached on hostB, announcing (the default: the first round
    // before attach returns). The subset's attach finds its pods complete,
    // changes nothing and announces.
    let on_b: Vec<FloatingIp> = (0..n).map(|k| spec(&lan.host_b, "b", k, true)).collect();
    let t_b = Instant::now();
    for f in &on_b {
        let done = host_b.attach(f).unwrap();
        assert!(done.announced.iter().any(|a| a.contains(HOST_B_MAC)), "{done}");
    }
    let attached = t_b.elapsed();
    for &k in &subset {
        assert!(host_b.check(&on_b[k]).unwrap().is_empty(), "pod {k} drifted");
    }
    // Announced only once the pod could answer: its link was
    // operationally up (the kernel transmits on it from then on).
    for k in 0..n {
        let l = pod_link(&pod_netns("b", k));
        assert_eq!(l[0]["operstate"].as_str(), Some("UP"), "pod {k}: {:?}", l[0]);
    }

    // Every pod, from the peer and in the peer's and the gateway's caches.
    let left = until_all_name(&lan.peer, &ips, HOST_B_MAC, Duration::from_secs(3));
    assert_eq!(left, Vec::<String>::new(), "peer: entries not naming hostB after the announcements");
    let ok = ping_all(&lan.peer, &ips, 2);
    assert_eq!(unlike(&ips, &ok, true), Vec::<String>::new(), "pods on hostB that did not answer the peer");
    assert_eq!(not_naming(&lan.peer, &ips, HOST_B_MAC), Vec::<String>::new(), "peer: entries after the pings");
    let left = until_all_name(&lan.gw, &ips, HOST_B_MAC, Duration::from_secs(3));
    assert_eq!(left, Vec::<String>::new(), "gateway: entries not naming hostB after the announcements");
    let checked = t_b.elapsed();

    // Clean up: every pod detached on hostB (their namespaces go with
    // them), the tombstones reaped; nothing is left on either node.
    for f in &on_b {
        host_b.detach(f).unwrap();
    }
    host_b.flush().unwrap();
    for (host, ns) in [(&host_b, &lan.host_b), (&host_a, &lan.host_a)] {
        assert_eq!(leftovers(host, ns), Vec::<String>::new(), "{}: left after detach and flush", ns.name);
    }
    let mine = format!("{PREFIX}-{}-fo-", std::process::id());
    let left: Vec<String> = floatip::Netns::list().unwrap().into_iter().filter(|x| x.starts_with(&mine)).collect();
    assert_eq!(left, Vec::<String>::new(), "pod namespaces left");
    eprintln!(
        "failover of {n} pods: hostA attached and seeded in {:.1} s, control done at {:.1} s; \
         hostB attached all in {:.2} s, every pod checked {:.2} s after the first attach",
        seeded.as_secs_f64(),
        control.as_secs_f64(),
        attached.as_secs_f64(),
        checked.as_secs_f64()
    );
}
