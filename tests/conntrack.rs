//! The conntrack flush (issue 15, item 4): detach, and attach when the IPs
//! arrive, delete the host's conntrack entries whose original or reply
//! tuple has a floating IP as source or destination; entries of other IPs
//! stay; `conntrack_flush(false)` and bridge mode (by default) leave them.
//! The `conntrack` tool (Debian `conntrack`) is the independent reader.

use std::process::{Command, Stdio};
use std::time::Instant;

use floatip::floating::{FloatingIp, FloatingIpBuilder, NetnsRef};
use floatip::{Conntrack, Host};
use netlab::{Lan, TestNs};

/// Whether this kernel tracks connections (`nf_conntrack` built in or
/// loaded; asking ctnetlink once loads it where it is a module). A kernel
/// the run says has it (`FLOATIP_TEST_KERNEL_HAS=nf_conntrack`) must.
fn conntrack_here(ns: &TestNs) -> bool {
    assert!(netlab::have("conntrack"), "conntrack is missing: `make test` installs it (Debian package conntrack)");
    let _ = ns.exec(&["conntrack", "-C"]);
    if std::path::Path::new("/sys/module/nf_conntrack").exists() {
        return true;
    }
    assert!(
        !netlab::kernel_must_have("nf_conntrack"),
        "the run says this kernel has nf_conntrack, yet it is not there"
    );
    eprintln!("SKIP: this kernel has no connection tracking (no /sys/module/nf_conntrack): there is nothing to flush");
    false
}

/// Every entry of the namespace's table, both families, as `conntrack -L`
/// prints them.
fn entries(ns: &TestNs) -> Vec<String> {
    let mut v = Vec::new();
    for f in ["ipv4", "ipv6"] {
        if f == "ipv6" && !netlab::ipv6_available() {
            continue;
        }
        let out = ns.exec(&["conntrack", "-L", "-f", f]);
        assert!(out.status.success(), "conntrack -L -f {f}: {}", String::from_utf8_lossy(&out.stderr));
        v.extend(String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned));
    }
    v
}

/// The entries with `ip` as a source or destination of either direction.
fn of(ns: &TestNs, ip: &str) -> Vec<String> {
    let (s, d) = (format!("src={ip} "), format!("dst={ip} "));
    entries(ns).into_iter().filter(|l| l.contains(&s) || l.contains(&d)).collect()
}

/// `conntrack -I ARGS` in `ns`: an entry made by hand.
fn insert(ns: &TestNs, args: &str) {
    let mut cmd = vec!["conntrack", "-I"];
    cmd.extend(args.split_whitespace());
    let out = ns.exec(&cmd);
    assert!(out.status.success(), "conntrack -I {args}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A UDP entry from `src` to `dst` whose reply comes from `reply_src`
/// (a DNAT when it differs from `dst`).
fn udp(src: &str, dst: &str, reply_src: &str, port: u16) -> String {
    format!("-p udp -s {src} -d {dst} --sport {port} --dport 53 -r {reply_src} -q {src} --reply-port-src 53 --reply-port-dst {port} -t 120 -u SEEN_REPLY")
}

fn spec(lan: &Lan, pod: &TestNs, id: &str, ip: &str) -> FloatingIpBuilder {
    FloatingIp::builder(id, "up0")
        .host_netns(NetnsRef::Name(lan.host_a.name.clone()))
        .pod_netns_name(pod.name.clone())
        .ipv4(ip, "10.0.0.1")
}

fn run(ns: &TestNs, cmd: &[&str]) {
    let out = ns.exec(cmd);
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Real flows through hostA before detach: a peer's ping to a Service-like
/// address that hostA DNATs to pod 1 (the pod's IP only in the reply
/// tuple), a direct ping to pod 2, a ping from pod 3 to the peer. Detach
/// (a kept Host's, with the tombstone, its entries deleted by the reaper's
/// pass; the one-off synchronous one; `detach_many`) deletes each pod's
/// entries, and only those.
#[test]
fn detach_deletes_the_flows_and_nat_bindings_of_its_ips() {
    let lan = Lan::new("ctd");
    if !conntrack_here(&lan.host_a) {
        return;
    }
    assert!(netlab::have("iptables"), "iptables is missing: `make test` installs it");
    let pods: Vec<TestNs> = (1..=4).map(|i| TestNs::new(&format!("ctd-p{i}"))).collect();
    let ips = ["10.0.0.150", "10.0.0.151", "10.0.0.152", "10.0.0.153"];
    let specs: Vec<FloatingIp> = pods
        .iter()
        .zip(ips)
        .enumerate()
        .map(|(i, (p, ip))| spec(&lan, p, &format!("ct/p{i}"), &format!("{ip}/23")).build().unwrap())
        .collect();
    assert!(specs.iter().all(|s| s.conntrack_flush()), "on by default in routed mode");
    let host = Host::open(NetnsRef::Name(lan.host_a.name.clone())).unwrap();
    for s in &specs {
        host.attach(s).unwrap();
    }
    // The "Service" 10.96.0.20 is hostA's DNAT to pod 1; the peer routes
    // the Service range through hostA.
    run(
        &lan.host_a,
        &["iptables", "-t", "nat", "-A", "PREROUTING", "-d", "10.96.0.20", "-j", "DNAT", "--to-destination", ips[0]],
    );
    lan.peer.ip("route add 10.96.0.0/12 via 10.0.0.2");
    assert!(lan.peer.ping("10.96.0.20"), "peer -> Service -> pod 1 (DNAT on hostA)");
    assert!(lan.peer.ping(ips[1]), "peer -> pod 2");
    assert!(pods[2].ping("10.0.0.7"), "pod 3 -> peer");
    assert!(lan.peer.ping(ips[3]), "peer -> pod 4");
    // And one entry nobody's flow made, of an address no pod has.
    insert(&lan.host_a, &udp("10.0.0.7", "10.0.0.99", "10.0.0.99", 41000));

    let nat = of(&lan.host_a, ips[0]);
    assert!(
        nat.iter().any(|l| l.contains("dst=10.96.0.20 ") && l.contains(&format!("src={} ", ips[0]))),
        "the DNAT'd flow is tracked: {nat:?}"
    );
    for ip in ips {
        assert!(!of(&lan.host_a, ip).is_empty(), "an entry of {ip} before detach: {:?}", entries(&lan.host_a));
    }

    // A kept Host's detach: the veth becomes a tombstone, and the reaper's
    // next pass deletes the tombstones and the entries of the IPs retired
    // since its last pass (one walk of the table for the batch); `flush`
    // waits for that pass.
    host.detach(&specs[0]).unwrap();
    host.flush().unwrap();
    assert_eq!(of(&lan.host_a, ips[0]), Vec::<String>::new(), "pod 1's entries after detach and flush");
    assert!(!of(&lan.host_a, "10.96.0.20").iter().any(|l| l.contains(ips[0])));
    // The one-off, synchronous detach: before it returns.
    let removed = specs[1].detach().unwrap();
    assert!(removed.iter().any(|r| r.starts_with("conntrack -D of 10.0.0.151: ")), "{removed:?}");
    assert_eq!(of(&lan.host_a, ips[1]), Vec::<String>::new(), "pod 2's entries after detach");
    // A drain.
    host.detach_many(&specs[2..3]).unwrap();
    assert_eq!(of(&lan.host_a, ips[2]), Vec::<String>::new(), "pod 3's entries after detach_many");
    // The others stay.
    assert!(!of(&lan.host_a, ips[3]).is_empty(), "pod 4's entries stay: {:?}", entries(&lan.host_a));
    assert_eq!(of(&lan.host_a, "10.0.0.99").len(), 1, "the unrelated entry stays");
    // Again: nothing left to delete, nothing reported.
    let again = host.detach_sync(&specs[0]).unwrap();
    assert!(!again.iter().any(|r| r.starts_with("conntrack")), "{again:?}");
    host.flush().unwrap();
    assert!(!of(&lan.host_a, ips[3]).is_empty(), "pod 4's entries stay: {:?}", entries(&lan.host_a));
}

/// Entries of an earlier life of the IPs on this node (made by hand before
/// attach, IPv4 and IPv6) are gone after attach; an attach that finds the
/// attachment in place (a retry) leaves the live pod's entries alone.
#[test]
fn attach_deletes_entries_of_an_earlier_life() {
    let lan = Lan::new("cta");
    if !conntrack_here(&lan.host_a) {
        return;
    }
    let v6 = netlab::ipv6_available();
    let pod = TestNs::new("cta-pod");
    let mut b = spec(&lan, &pod, "ct/again", "10.0.0.160/23");
    if v6 {
        b = b.ipv6("2001:db8::160/64", "2001:db8::1");
    }
    let f = b.build().unwrap();
    let h = &lan.host_a;
    // The pod's own flow, and a Service's NAT binding to it.
    insert(h, &udp("10.0.0.160", "10.0.0.7", "10.0.0.7", 42000));
    insert(h, &udp("10.0.0.7", "10.96.0.30", "10.0.0.160", 42001));
    insert(h, &udp("10.0.0.7", "10.0.0.99", "10.0.0.99", 42002));
    if v6 {
        insert(h, &udp("2001:db8::160", "2001:db8::7", "2001:db8::7", 42003));
    }
    assert_eq!(of(h, "10.0.0.160").len(), 2);

    let a = f.attach().unwrap();
    let want = match v6 {
        true => "conntrack -D of 10.0.0.160 2001:db8::160: 3 entries",
        false => "conntrack -D of 10.0.0.160: 2 entries",
    };
    assert!(a.changes.iter().any(|c| c == want), "{a}");
    assert_eq!(of(h, "10.0.0.160"), Vec::<String>::new());
    if v6 {
        assert_eq!(of(h, "2001:db8::160"), Vec::<String>::new());
    }
    assert_eq!(of(h, "10.0.0.99").len(), 1, "the unrelated entry stays");

    // A retry of a complete attachment: the entries are the live pod's.
    insert(h, &udp("10.0.0.160", "10.0.0.7", "10.0.0.7", 42004));
    let again = f.attach().unwrap();
    assert!(again.changes.is_empty(), "{again}");
    assert_eq!(of(h, "10.0.0.160").len(), 1, "a re-attach leaves the live pod's flows");
    f.detach().unwrap();
    assert_eq!(of(h, "10.0.0.160"), Vec::<String>::new());
}

/// The reaper deletes a retired IP's entries only if no veth serves it by
/// its pass: an IP attached here again before that pass (a pod restarted
/// in place) keeps the flows of its new life.
#[test]
fn a_reattach_before_the_reapers_pass_keeps_the_new_flows() {
    let lan = Lan::new("ctr");
    if !conntrack_here(&lan.host_a) {
        return;
    }
    let host = Host::open(NetnsRef::Name(lan.host_a.name.clone()))
        .unwrap()
        .with_reap_pace(std::time::Duration::from_secs(600), 1000);
    let (pod, other) = (TestNs::new("ctr-pod"), TestNs::new("ctr-other"));
    let f = spec(&lan, &pod, "ct/restart", "10.0.0.190/23").build().unwrap();
    let g = spec(&lan, &other, "ct/gone", "10.0.0.191/23").build().unwrap();
    host.attach(&f).unwrap();
    host.attach(&g).unwrap();
    insert(&lan.host_a, &udp("10.0.0.190", "10.0.0.7", "10.0.0.7", 44000));
    insert(&lan.host_a, &udp("10.0.0.191", "10.0.0.7", "10.0.0.7", 44001));
    // Both retired; the reaper's pass is ten minutes away.
    host.detach(&f).unwrap();
    host.detach(&g).unwrap();
    assert_eq!(of(&lan.host_a, "10.0.0.190").len(), 1, "not yet: the reaper's pass deletes them");
    // One comes back (its attach deletes its tombstone and flushes), and
    // its new life makes a flow.
    let a = host.attach(&f).unwrap();
    assert!(a.changes.iter().any(|c| c == "conntrack -D of 10.0.0.190: 1 entries"), "{a}");
    insert(&lan.host_a, &udp("10.0.0.190", "10.0.0.7", "10.0.0.7", 44002));
    host.flush().unwrap();
    assert_eq!(of(&lan.host_a, "10.0.0.190").len(), 1, "the new life's flow stays");
    assert_eq!(of(&lan.host_a, "10.0.0.191"), Vec::<String>::new(), "the retired IP's entries went");
    host.detach_sync(&f).unwrap();
    assert_eq!(of(&lan.host_a, "10.0.0.190"), Vec::<String>::new());
}

/// `conntrack_flush(false)` leaves the entries through attach and detach,
/// and so does bridge mode by default (the host does not route the pod's
/// traffic there); bridge mode with the option on deletes them.
#[test]
fn the_off_switch_and_bridge_mode_keep_the_entries() {
    let lan = Lan::new("cto");
    if !conntrack_here(&lan.host_a) || !conntrack_here(&lan.host_b) {
        return;
    }
    let pod = TestNs::new("cto-pod");
    let off = spec(&lan, &pod, "ct/off", "10.0.0.170/23").conntrack_flush(false).build().unwrap();
    insert(&lan.host_a, &udp("10.0.0.170", "10.0.0.7", "10.0.0.7", 43000));
    let a = off.attach().unwrap();
    assert!(!a.changes.iter().any(|c| c.starts_with("conntrack")), "{a}");
    assert_eq!(of(&lan.host_a, "10.0.0.170").len(), 1, "off: kept by attach");
    off.detach().unwrap();
    assert_eq!(of(&lan.host_a, "10.0.0.170").len(), 1, "off: kept by detach");

    netlab::bridge_uplink_ip(&lan.host_b);
    let bridged = |id: &str, pod: &TestNs, ip: &str| {
        FloatingIp::builder(id, "up0")
            .host_netns(NetnsRef::Name(lan.host_b.name.clone()))
            .pod_netns_name(pod.name.clone())
            .ipv4(ip, "10.0.0.1")
            .bridge("br0")
    };
    let bpod = TestNs::new("cto-br");
    let br = bridged("ct/br", &bpod, "10.0.0.171/23").build().unwrap();
    assert!(!br.conntrack_flush(), "off by default in bridge mode");
    insert(&lan.host_b, &udp("10.0.0.171", "10.0.0.7", "10.0.0.7", 43001));
    br.attach().unwrap();
    br.detach().unwrap();
    assert_eq!(of(&lan.host_b, "10.0.0.171").len(), 1, "bridge mode: kept");

    let bpod2 = TestNs::new("cto-br2");
    let br_on = bridged("ct/br-on", &bpod2, "10.0.0.172/23").conntrack_flush(true).build().unwrap();
    insert(&lan.host_b, &udp("10.0.0.172", "10.0.0.7", "10.0.0.7", 43002));
    br_on.attach().unwrap();
    assert_eq!(of(&lan.host_b, "10.0.0.172"), Vec::<String>::new(), "bridge mode with the option on: deleted");
    br_on.detach().unwrap();
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// `n` UDP entries of addresses no pod has, loaded with one `conntrack -R -`.
fn load_unrelated(ns: &TestNs, n: usize, base_port: u16) {
    use std::io::Write;
    let mut child = Command::new("ip")
        .args(["netns", "exec", &ns.name, "conntrack", "-R", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for i in 0..n {
        let (port, host) = (base_port + (i % 20000) as u16, 10 + i / 20000);
        writeln!(stdin, "-I {}", udp("10.0.0.7", &format!("10.0.2.{host}"), &format!("10.0.2.{host}"), port)).unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "conntrack -R: {}", String::from_utf8_lossy(&out.stderr));
}

/// The cost, printed (`cargo test --release -p floatip-tests --test
/// conntrack -- --ignored --nocapture`): one flush of an IP's entries with
/// the table empty, with 1,000 unrelated entries, and deleting 100 of the
/// IP's; and attach + detach with a kept Host, flush on and off
/// interleaved pod by pod (`CT_PODS`, default 100), with the table empty
/// (three rounds) and with 1,000 unrelated entries (one round).
#[test]
#[ignore = "a measurement: run it by name with --ignored --nocapture"]
fn flush_cost() {
    let lan = Lan::new("ctc");
    if !conntrack_here(&lan.host_a) {
        return;
    }
    let ct = Conntrack::in_netns(&lan.host_a.ns).unwrap();
    let ip = "10.0.0.180".parse().unwrap();
    let time = |reps: usize| {
        let mut v = Vec::new();
        for _ in 0..reps {
            let t = Instant::now();
            ct.flush_addr(ip).unwrap();
            v.push(t.elapsed().as_secs_f64() * 1e6);
        }
        median(v)
    };
    eprintln!("flush_addr, empty table: {:.1} µs (median of 200)", time(200));
    load_unrelated(&lan.host_a, 1000, 20000);
    assert_eq!(entries(&lan.host_a).len(), 1000);
    eprintln!("flush_addr, 1,000 unrelated entries: {:.1} µs (median of 200)", time(200));
    let mut dels = Vec::new();
    for round in 0..5 {
        for i in 0..100 {
            insert(&lan.host_a, &udp("10.0.0.180", "10.0.0.7", "10.0.0.7", 30000 + round * 100 + i));
        }
        let t = Instant::now();
        assert_eq!(ct.flush_addr(ip).unwrap(), 100);
        dels.push(t.elapsed().as_secs_f64() * 1e6);
    }
    eprintln!("flush_addr deleting 100 entries among 1,000: {:.0} µs (median of 5)", median(dels));
    let out = lan.host_a.exec(&["conntrack", "-F"]);
    assert!(out.status.success());

    let n: usize = std::env::var("CT_PODS").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    let pods: Vec<TestNs> = (0..n).map(|i| TestNs::new(&format!("ctc{i}"))).collect();
    let host = Host::open(NetnsRef::Name(lan.host_a.name.clone())).unwrap();
    let specs: Vec<FloatingIp> = pods
        .iter()
        .enumerate()
        .map(|(i, p)| {
            spec(&lan, p, &format!("perf/{i}"), &format!("10.0.1.{}/23", 10 + i))
                .no_announce()
                .conntrack_flush(i % 2 == 0)
                .build()
                .unwrap()
        })
        .collect();
    for round in 0..4 {
        // The last round with 1,000 unrelated entries in the table: a busy
        // node's, where every flush walks the kernel's conntrack hash.
        let busy = round == 3;
        if busy {
            load_unrelated(&lan.host_a, 1000, 20000);
        }
        let (mut on, mut off, mut don, mut doff) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for s in &specs {
            let t = Instant::now();
            host.attach(s).unwrap();
            let us = t.elapsed().as_secs_f64() * 1e6;
            if s.conntrack_flush() {
                on.push(us)
            } else {
                off.push(us)
            }
        }
        for s in &specs {
            let t = Instant::now();
            host.detach(s).unwrap();
            let us = t.elapsed().as_secs_f64() * 1e6;
            if s.conntrack_flush() {
                don.push(us)
            } else {
                doff.push(us)
            }
        }
        let t = Instant::now();
        host.flush().unwrap();
        let reap = t.elapsed().as_secs_f64() * 1e3;
        let (a1, a0, d1, d0) = (median(on), median(off), median(don), median(doff));
        let table = if busy { "1,000 unrelated entries" } else { "empty table" };
        eprintln!(
            "round {round}, {n} pods, {table}: attach {a1:.0} µs with flush, {a0:.0} µs without ({:+.0}); \
             kept-Host detach {d1:.0} / {d0:.0} µs ({:+.0}); the last reaper pass (flush()) {reap:.1} ms",
            a1 - a0,
            d1 - d0
        );
    }
}
