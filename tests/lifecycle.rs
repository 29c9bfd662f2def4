//! Attachments on real nodes (issue: lifecycle): owner marks, detach that
//! removes only what is this attachment's, list and GC from the kernel
//! alone, locks under threads and processes, crashes mid-attach.

use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};

use floatip::floating::{FloatingIp, FloatingIpBuilder, NetnsRef};
use floatip::{ErrorKind, Host};
use netlab::{Lan, MadeNetns, TestNs};

const PROBE: &str = env!("CARGO_BIN_EXE_fip-probe");

fn spec(host: &TestNs, pod: &str, id: &str, ip: &str) -> FloatingIpBuilder {
    FloatingIp::builder("default/web-0", "up0")
        .attachment_id(id)
        .host_netns(NetnsRef::Name(host.name.clone()))
        .pod_netns_name(pod)
        .ipv4(ip, "10.0.0.1")
}

/// `n` rounds of a stress test, or a fraction of them where the run says so
/// (`FLOATIP_TEST_ROUNDS_DIVISOR`: the kernel lane, under emulation).
fn rounds(n: usize) -> usize {
    let d = std::env::var("FLOATIP_TEST_ROUNDS_DIVISOR").ok().and_then(|d| d.parse::<usize>().ok()).unwrap_or(1);
    (n / d.max(1)).max(1)
}

fn host(ns: &TestNs) -> Host {
    Host::open(NetnsRef::Name(ns.name.clone())).unwrap()
}

fn links(ns: &TestNs) -> Vec<String> {
    ns.ip_json("link show").iter().map(|l| l["ifname"].as_str().unwrap_or("").to_owned()).collect()
}

/// The kubelet after a node reboot: DEL(old sandbox), ADD(new), DEL(old)
/// (kubernetes#44100), with the LAN peer pinging after each step. Once
/// with CNI-style ids (container id differs) and once with one attachment
/// id for both sandboxes (the library default, the pod key).
#[test]
fn a_late_del_of_the_old_sandbox_leaves_the_new_one() {
    let lan = Lan::new("late");
    for (old_id, new_id) in [("c0ffee01/eth0", "c0ffee02/eth0"), ("default/web-0", "default/web-0")] {
        let old = TestNs::new("late-old");
        let new = TestNs::new("late-new");
        let f_old = spec(&lan.host_a, &old.name, old_id, "10.0.0.150/23").build().unwrap();
        let f_new = spec(&lan.host_a, &new.name, new_id, "10.0.0.150/23").build().unwrap();
        f_old.attach().unwrap();
        assert!(lan.peer.ping("10.0.0.150"));
        // The old sandbox dies with the reboot: DEL(old) with its netns.
        f_old.detach().unwrap();
        drop(old); // its namespace is gone now
        assert!(!lan.peer.ping("10.0.0.150"));
        f_new.attach().unwrap();
        assert!(lan.peer.ping("10.0.0.150"), "{old_id}: after ADD(new)");
        // The late DEL(old): its netns is gone.
        let removed = f_old.detach().unwrap();
        assert!(removed.is_empty(), "{old_id}: the late DEL removed {removed:?}");
        assert!(links(&lan.host_a).contains(&f_new.host_ifname().to_string()));
        assert_eq!(lan.host_a.ip_json("neigh show proxy").len(), 1, "the proxy entry serves the new sandbox");
        assert!(f_new.check().unwrap().is_empty(), "{old_id}");
        assert!(lan.peer.ping("10.0.0.150"), "{old_id}: after the late DEL(old)");
        f_new.detach().unwrap();
        assert!(lan.host_a.ip_json("neigh show proxy").is_empty());
    }
}

/// The marks, as `ip` shows them, and stable MACs given at creation.
#[test]
fn marks_are_readable_with_ip_and_macs_are_stable() {
    let lan = Lan::new("mark");
    let pod = TestNs::new("mark-pod");
    let f = spec(&lan.host_a, &pod.name, "cafe/eth0", "10.0.0.151/23").no_announce().build().unwrap();
    let done = f.attach().unwrap();
    let hv = f.host_ifname().as_str();
    let l = &lan.host_a.ip_json(&format!("-d link show dev {hv}"))[0];
    let ino = pod.ns.inode().unwrap();
    assert_eq!(
        l["ifalias"].as_str().unwrap(),
        format!(
            "floatip/1 id=cafe/eth0 ns={ino} lan=up0 ip=10.0.0.151 table={t} prio=2000 spoof=drop gw=10.0.0.1/23 \
             pod=default/web-0",
            t = floatip::default_table(&floatip::IfName::new("up0").unwrap())
        )
    );
    assert_eq!(done.mark.to_alias(), l["ifalias"].as_str().unwrap());
    let route = &lan.host_a.ip_json("route show 10.0.0.151/32")[0];
    assert_eq!(route["protocol"], "70");
    // The rules name the veth and carry the protocol too.
    let rules = lan.host_a.ip_json("rule show");
    let mine: Vec<&serde_json::Value> = rules.iter().filter(|r| r["iif"] == hv).collect();
    assert_eq!(mine.len(), 3, "{rules:?}");
    assert!(mine.iter().all(|r| r["protocol"] == "70"), "{mine:?}");
    let proxy = &lan.host_a.ip_json("neigh show proxy")[0];
    assert_eq!(proxy["protocol"], "70");
    let macs = || {
        (
            lan.host_a.ip_json(&format!("link show dev {hv}"))[0]["address"].as_str().unwrap().to_owned(),
            pod.ip_json("link show dev eth0")[0]["address"].as_str().unwrap().to_owned(),
        )
    };
    let first = macs();
    assert_eq!(first, (f.host_mac().to_string(), f.pod_mac().to_string()));
    f.detach().unwrap();
    f.attach().unwrap();
    assert_eq!(macs(), first, "a re-attach restores the same MACs");
    f.detach().unwrap();
}

/// `list` reads the node from the kernel alone: a fresh process sees what
/// this one attached, complete, partial and orphaned.
#[test]
fn list_from_a_fresh_process() {
    let lan = Lan::new("list");
    let (p1, p2) = (TestNs::new("list-p1"), TestNs::new("list-p2"));
    let f1 = spec(&lan.host_a, &p1.name, "aa/eth0", "10.0.0.152/23").no_announce().build().unwrap();
    let f2 = spec(&lan.host_a, &p2.name, "bb/eth0", "10.0.0.153/23").no_announce().build().unwrap();
    f1.attach().unwrap();
    f2.attach().unwrap();
    let probe = || {
        let out = Command::new(PROBE).args(["list", &lan.host_a.name]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(probe(), "aa/eth0 complete 10.0.0.152\nbb/eth0 complete 10.0.0.153\n");
    let here = host(&lan.host_a).list().unwrap();
    let a = here.iter().find(|a| a.attachment_id.as_deref() == Some("aa/eth0")).unwrap();
    assert_eq!(a.pod_netns_name.as_deref(), Some(p1.name.as_str()));
    assert_eq!(a.pod_netns_inode, Some(p1.ns.inode().unwrap()));
    assert_eq!(a.host_veth.as_ref().map(|v| v.0.as_str()), Some(f1.host_ifname().as_str()));
    // An uplink flap flushes the proxy entries: partial.
    lan.host_a.ip("link set up0 down");
    lan.host_a.ip("link set up0 up");
    assert_eq!(probe(), "aa/eth0 partial 10.0.0.152\nbb/eth0 partial 10.0.0.153\n");
    f1.attach().unwrap();
    f2.attach().unwrap();
    // A veth deleted by hand: its proxy entry is an orphan.
    lan.host_a.ip(&format!("link del {}", f2.host_ifname()));
    assert_eq!(probe(), "- orphaned 10.0.0.153\naa/eth0 complete 10.0.0.152\n");
    f1.detach().unwrap();
    f2.detach().unwrap();
    assert_eq!(probe(), "");
}

/// GC with CNI semantics: everything of floatip's not in the valid list,
/// and orphans, go; look-alike objects made by hand with `ip` stay.
#[test]
fn gc_removes_only_floatips_invalid_objects_and_orphans() {
    let lan = Lan::new("gc");
    let pods: Vec<TestNs> = (0..3).map(|i| TestNs::new(&format!("gc-p{i}"))).collect();
    let specs: Vec<FloatingIp> = pods
        .iter()
        .enumerate()
        .map(|(i, p)| {
            spec(&lan.host_a, &p.name, &format!("gc{i}/eth0"), &format!("10.0.0.{}/23", 160 + i))
                .no_announce()
                .build()
                .unwrap()
        })
        .collect();
    for s in &specs {
        s.attach().unwrap();
    }
    // Orphans: a proxy entry of floatip's without its veth, and a route of
    // floatip's protocol out of a veth that has no mark.
    lan.host_a.ip("neigh add proxy 10.0.0.170 dev up0 protocol 70");
    // Look-alikes, made by hand: a veth named like floatip's with no mark,
    // one with someone else's alias, a route and a proxy entry without
    // floatip's protocol.
    lan.host_a.ip("link add fip0123456789ab type veth peer name fipx-peer");
    lan.host_a.ip("link add fipforeign0 alias rack3-uplink type veth peer name fipy-peer");
    lan.host_a.ip("link set fip0123456789ab up");
    lan.host_a.ip("route add 10.0.0.171/32 dev fip0123456789ab");
    lan.host_a.ip("route add 10.0.0.172/32 dev fip0123456789ab proto 70");
    lan.host_a.ip("neigh add proxy 10.0.0.173 dev up0");
    // Rules: an orphan of floatip's (its veth is gone), and look-alikes
    // without floatip's protocol, one on a veth that GC removes.
    lan.host_a.ip("rule add priority 2002 iif fipgone00000 blackhole proto 70");
    lan.host_a.ip("rule add priority 2002 iif fipgone00001 blackhole");
    lan.host_a.ip(&format!("rule add priority 2500 iif {} lookup main", specs[1].host_ifname()));
    let removed = host(&lan.host_a).gc(["gc0/eth0"]).unwrap();
    assert!(!removed.is_empty());
    let names = links(&lan.host_a);
    assert!(names.contains(&specs[0].host_ifname().to_string()), "the valid attachment stays");
    for s in &specs[1..] {
        assert!(!names.contains(&s.host_ifname().to_string()), "{} is not valid", s.attachment_id());
    }
    for n in ["fip0123456789ab", "fipforeign0", "fipx-peer", "fipy-peer"] {
        assert!(names.contains(&n.to_owned()), "look-alike {n} removed");
    }
    let proxies: Vec<String> =
        lan.host_a.ip_json("neigh show proxy").iter().map(|p| p["dst"].as_str().unwrap().to_owned()).collect();
    assert_eq!(proxies.len(), 2, "{proxies:?}");
    assert!(proxies.contains(&"10.0.0.160".to_owned()) && proxies.contains(&"10.0.0.173".to_owned()));
    let routes: Vec<String> = lan.host_a.ip_json("route show").iter().map(|r| r["dst"].to_string()).collect();
    assert!(routes.iter().any(|r| r.contains("10.0.0.171")), "{routes:?}");
    assert!(!routes.iter().any(|r| r.contains("10.0.0.172")), "floatip's orphan route stays: {routes:?}");
    let rules = lan.host_a.ip_json("rule show");
    let on = |iif: &str| rules.iter().filter(|r| r["iif"] == iif).count();
    assert_eq!(on(specs[0].host_ifname().as_str()), 3, "the valid attachment's rules stay");
    assert_eq!(on(specs[2].host_ifname().as_str()), 0, "an invalid attachment's rules go");
    assert_eq!(on(specs[1].host_ifname().as_str()), 1, "a hand-made rule on a removed veth stays: {rules:?}");
    assert_eq!((on("fipgone00000"), on("fipgone00001")), (0, 1), "{rules:?}");
    assert!(specs[0].check().unwrap().is_empty());
    assert!(lan.peer.ping("10.0.0.160"));
    // GC again: nothing more of floatip's to remove.
    assert!(host(&lan.host_a).gc(["gc0/eth0"]).unwrap().is_empty());
    specs[0].detach().unwrap();
    lan.host_a.ip("rule del priority 2002 iif fipgone00001 blackhole");
    lan.host_a.ip(&format!("rule del priority 2500 iif {} lookup main", specs[1].host_ifname()));
}

/// Two attachments asking for one floating IP at once: exactly one wins,
/// the other gets `Conflict` and leaves nothing behind. Threads, then
/// processes; 100 rounds each.
#[test]
fn the_same_ip_race_has_one_winner() {
    let lan = Lan::new("race");
    let (pa, pb) = (TestNs::new("race-a"), TestNs::new("race-b"));
    let fa = spec(&lan.host_a, &pa.name, "ra/eth0", "10.0.0.180/23").no_announce().build().unwrap();
    let fb = spec(&lan.host_a, &pb.name, "rb/eth0", "10.0.0.180/23").no_announce().build().unwrap();
    let h = Arc::new(host(&lan.host_a));
    let loser_clean = |loser: &FloatingIp, pod: &TestNs| {
        assert!(!links(&lan.host_a).contains(&loser.host_ifname().to_string()));
        assert!(pod.ip_json("link show").iter().all(|l| l["ifname"] != "eth0"));
    };
    for round in 0..rounds(100) {
        let barrier = Arc::new(Barrier::new(2));
        let results: Vec<floatip::Result<floatip::floating::Attached>> = std::thread::scope(|s| {
            let t: Vec<_> = [&fa, &fb]
                .into_iter()
                .map(|f| {
                    let (h, barrier) = (Arc::clone(&h), Arc::clone(&barrier));
                    s.spawn(move || {
                        barrier.wait();
                        h.attach(f)
                    })
                })
                .collect();
            t.into_iter().map(|t| t.join().unwrap()).collect()
        });
        let wins: Vec<bool> = results.iter().map(|r| r.is_ok()).collect();
        assert_eq!(wins.iter().filter(|w| **w).count(), 1, "round {round}: {results:?}");
        let (winner, loser, loser_pod) = if wins[0] { (&fa, &fb, &pb) } else { (&fb, &fa, &pa) };
        let lost = results.iter().find_map(|r| r.as_ref().err()).unwrap();
        assert_eq!(lost.kind(), ErrorKind::Conflict, "round {round}: {lost}");
        loser_clean(loser, loser_pod);
        let d = h.check(winner).unwrap();
        assert!(d.is_empty(), "round {round}: {d:?}");
        h.detach(winner).unwrap();
    }
    for round in 0..rounds(100) {
        let kids: Vec<_> = [(&pa, "ra/eth0"), (&pb, "rb/eth0")]
            .into_iter()
            .map(|(p, id)| {
                Command::new(PROBE)
                    .args(["attach", &lan.host_a.name, &p.name, id, "10.0.0.180/23"])
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let outs: Vec<String> = kids
            .into_iter()
            .map(|k| {
                let o = k.wait_with_output().unwrap();
                assert!(o.status.success());
                String::from_utf8(o.stdout).unwrap().trim().to_owned()
            })
            .collect();
        let mut sorted = outs.clone();
        sorted.sort();
        assert_eq!(sorted, ["conflict", "ok"], "round {round}");
        let (winner, loser, loser_pod) = if outs[0] == "ok" { (&fa, &fb, &pb) } else { (&fb, &fa, &pa) };
        loser_clean(loser, loser_pod);
        let d = h.check(winner).unwrap();
        assert!(d.is_empty(), "round {round}: {d:?}");
        h.detach(winner).unwrap();
    }
}

/// SIGKILL of an attach (in a child process, creating its pod netns) at
/// random points: afterwards a re-attach succeeds with `check()` empty, or
/// a detach leaves the host as it was (shared settings aside, and they
/// are not in the snapshot).
#[test]
fn sigkill_mid_attach_is_repaired_by_attach_or_detach() {
    let lan = Lan::new("kill");
    let name = format!("{}-killpod", lan.host_a.name);
    let _cleanup = MadeNetns(vec![name.clone()]);
    let f = FloatingIp::builder("default/killed", "up0")
        .attachment_id("killed/eth0")
        .host_netns(NetnsRef::Name(lan.host_a.name.clone()))
        .create_pod_netns(name.clone())
        .ipv4("10.0.0.190/23", "10.0.0.1")
        .no_announce()
        .build()
        .unwrap();
    // Shared settings once, so that the snapshot compares what is per pod.
    f.attach().unwrap();
    f.detach().unwrap();
    let before = lan.host_a.snapshot();
    // How long a whole attach in a child takes here (process start
    // included: much longer under emulation, in the kernel lane), so that
    // the kills spread over it.
    let probe = || {
        let mut c = Command::new(PROBE);
        c.args(["attach-create", &lan.host_a.name, &name, "killed/eth0", "10.0.0.190/23"]).stdout(Stdio::null());
        c
    };
    let t = std::time::Instant::now();
    assert!(probe().status().unwrap().success());
    let whole_us = (t.elapsed().as_micros() as u64).max(1000);
    f.detach().unwrap();
    let mut seed = u64::from(std::process::id()) | 1;
    let (mut none, mut mid, mut whole) = (0, 0, 0);
    // The kills land at random in a window that starts as the whole attach
    // and narrows towards where attaches are in flight: a process start
    // varies a lot (much more under emulation), and a kill before the
    // library runs or after it returned proves little.
    let (mut lo, mut hi) = (0u64, whole_us * 12 / 10);
    for round in 0..rounds(200) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let at = lo + seed % (hi - lo).max(1);
        let delay = std::time::Duration::from_micros(at);
        let mut child = probe().spawn().unwrap();
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let exists = std::path::Path::new("/run/netns").join(&name).exists();
        let veth = links(&lan.host_a).contains(&f.host_ifname().to_string());
        let complete = veth && f.check().is_ok_and(|d| d.is_empty());
        match (exists || veth, complete) {
            (false, _) => {
                none += 1;
                lo += (at - lo) / 2;
            }
            (true, true) => {
                whole += 1;
                hi -= (hi - at) / 2;
            }
            (true, false) => mid += 1,
        }
        if hi < lo + 400 {
            (lo, hi) = (lo.saturating_sub(200), hi + 200);
        }
        if round % 2 == 0 {
            f.attach().unwrap_or_else(|e| panic!("round {round}: re-attach: {e}"));
            assert!(f.check().unwrap().is_empty(), "round {round}");
        }
        f.detach().unwrap_or_else(|e| panic!("round {round}: detach: {e}"));
        assert_eq!(lan.host_a.snapshot(), before, "round {round}");
        assert!(!std::path::Path::new("/run/netns").join(&name).exists(), "round {round}");
    }
    eprintln!("sigkill: {mid} rounds killed mid-attach, {none} before it began, {whole} after it completed");
    assert!(mid >= rounds(200) / 10, "too few kills landed mid-attach ({mid}, {none} before, {whole} after)");
}

/// A pod namespace that is the host namespace, by any name, is refused
/// before any change.
#[test]
fn a_pod_netns_that_is_the_host_is_refused() {
    let lan = Lan::new("self");
    let before = lan.host_a.snapshot();
    let by_path = format!("/run/netns/{}", lan.host_a.name);
    // Said the same way: refused by build().
    let e = spec(&lan.host_a, &lan.host_a.name, "self/eth0", "10.0.0.195/23").build().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    // Another path to the same namespace: refused by inode when a verb runs.
    for b in [
        spec(&lan.host_a, "x", "self/eth0", "10.0.0.195/23").pod_netns_path(&by_path),
        spec(&lan.host_a, "x", "self/eth0", "10.0.0.195/23").pod_netns_path(format!("/var{by_path}")),
    ] {
        let f = b.build().unwrap();
        let e = f.attach().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        assert_eq!(f.detach().unwrap_err().kind(), ErrorKind::InvalidInput);
    }
    assert_eq!(lan.host_a.snapshot(), before);
}

/// What a create killed between making `/run/netns/NAME` and mounting the
/// namespace leaves, an empty file, reads as no namespace and is reused.
#[test]
fn a_stale_netns_placeholder_is_reused() {
    let lan = Lan::new("stale");
    let name = format!("{}-stalepod", lan.host_a.name);
    let _cleanup = MadeNetns(vec![name.clone()]);
    std::fs::write(format!("/run/netns/{name}"), b"").unwrap();
    assert_eq!(floatip::Netns::open(&name).unwrap_err().kind(), ErrorKind::NotFound);
    let f = FloatingIp::builder("default/stale", "up0")
        .host_netns(NetnsRef::Name(lan.host_a.name.clone()))
        .create_pod_netns(name.clone())
        .ipv4("10.0.0.196/23", "10.0.0.1")
        .no_announce()
        .build()
        .unwrap();
    assert!(f.check().unwrap().iter().any(|d| d.found.contains("no such namespace")));
    f.attach().unwrap();
    assert!(f.check().unwrap().is_empty());
    assert!(lan.peer.ping("10.0.0.196"));
    f.detach().unwrap();
    assert!(!std::path::Path::new("/run/netns").join(&name).exists());
}

/// Detach stops the attachment's background announcement: an IP no longer
/// attached here is not announced from here.
#[test]
fn detach_stops_the_background_announcement() {
    let lan = Lan::new("stop");
    let pod = TestNs::new("stop-pod");
    let opts = floatip::announce::AnnounceOptions::default().count(100).interval(std::time::Duration::from_millis(50));
    let f = spec(&lan.host_a, &pod.name, "stop/eth0", "10.0.0.197/23").announce(opts).build().unwrap();
    let a = f.attach().unwrap();
    f.detach().unwrap();
    let report = a.announcement.expect("rounds in the background").wait().unwrap();
    assert!(report.rounds < 100, "{report:?}");
}

/// Waits (at most 10 s) for `cond`: the watcher works in the background.
fn eventually(what: &str, cond: impl Fn() -> bool) {
    let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !cond() {
        assert!(std::time::Instant::now() < end, "never happened: {what}");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// The watcher repairs an uplink flap, a deleted route, a deleted proxy
/// entry and a re-created uplink, each seen by the LAN peer's ping; and it
/// never brings back an IP that was detached.
#[test]
fn the_watcher_repairs_flaps_deletions_and_a_recreated_uplink() {
    let lan = Lan::new("watch");
    let pod = TestNs::new("watch-pod");
    let f = spec(&lan.host_a, &pod.name, "w/eth0", "10.0.0.198/23")
        .ipv6("2001:db8::198/64", "2001:db8::1")
        .no_announce()
        .build()
        .unwrap();
    f.attach().unwrap();
    assert!(lan.peer.ping("10.0.0.198") && lan.peer.ping("2001:db8::198"));
    let h = host(&lan.host_a);
    let w = h.watch_every(std::time::Duration::from_millis(200)).unwrap();
    let healthy = || f.check().is_ok_and(|d| d.is_empty());
    lan.host_a.ip("link set up0 down");
    lan.host_a.ip("link set up0 up");
    // The kernel drops the host's own global IPv6 address on link down
    // (`keep_addr_on_down=0`); a node's network manager puts it back.
    lan.host_a.ip("addr replace 2001:db8::2/64 dev up0 nodad");
    eventually("repair after a flap", healthy);
    assert!(lan.peer.ping("10.0.0.198"), "IPv4 after the flap");
    assert!(lan.peer.ping("2001:db8::198"), "IPv6 after the flap");
    lan.host_a.ip("route del 10.0.0.198/32");
    eventually("the host route back", healthy);
    assert!(lan.peer.ping("10.0.0.198"), "after the route was deleted");
    lan.host_a.ip("neigh del proxy 10.0.0.198 dev up0");
    lan.host_a.ip("-6 neigh del proxy 2001:db8::198 dev up0");
    eventually("the proxy entries back", healthy);
    assert!(lan.peer.ping("10.0.0.198") && lan.peer.ping("2001:db8::198"), "after the entries were deleted");
    // A host network manager that flushes foreign rules and routes: the
    // anti-spoofing rule and the table's default route go.
    let t = floatip::default_table(&floatip::IfName::new("up0").unwrap());
    lan.host_a.ip(&format!("rule del priority 2002 iif {}", f.host_ifname()));
    lan.host_a.ip(&format!("route del default table {t}"));
    lan.host_a.ip(&format!("-6 rule del priority 2000 from 2001:db8::198 iif {}", f.host_ifname()));
    // (No look at the state in between: the watcher may have repaired it
    // already.)
    eventually("the rules and the table route back", healthy);
    assert!(lan.peer.ping("10.0.0.198") && lan.peer.ping("2001:db8::198"), "after the rules were deleted");
    // The uplink deleted and made again, as a bond or VLAN is re-created:
    // new ifindex, default settings.
    lan.switch.ip("link del p-a");
    lan.switch.ip(&format!(
        "link add p-a type veth peer name up0 netns {} address {}",
        lan.host_a.name,
        netlab::HOST_A_MAC
    ));
    lan.switch.ip("link set p-a master br0 up");
    lan.host_a.ip("link set up0 up");
    lan.host_a.ip("addr add 10.0.0.2/23 dev up0");
    lan.host_a.ip("addr add 2001:db8::2/64 dev up0 nodad");
    eventually("repair after the uplink was re-created", healthy);
    assert!(lan.peer.ping_wait("10.0.0.198", 3) && lan.peer.ping_wait("2001:db8::198", 3), "re-created uplink");
    // Detached: a flap must not bring its entries back.
    f.detach().unwrap();
    lan.host_a.ip("link set up0 down");
    lan.host_a.ip("link set up0 up");
    assert!(h.reconcile().unwrap().is_empty());
    let report = w.stop().unwrap();
    assert!(report.repairs >= 6, "{report:?}");
    assert!(lan.host_a.ip_json("neigh show proxy").is_empty());
    assert!(lan.host_a.ip_json("-6 neigh show proxy").is_empty());
}

/// A watcher whose event socket overruns (`ENOBUFS`: events were lost)
/// goes on: it counts the overrun, makes its full pass and repairs a
/// proxy entry deleted in the middle of the flood (a deletion the kernel
/// sends no event for). Its receive buffer is the kernel's minimum (a
/// test hook). Without the overrun handling the watcher ends with the
/// error and nothing is repaired.
#[test]
fn an_overrun_watcher_rechecks_everything() {
    let lan = Lan::new("overrun");
    let pod = TestNs::new("overrun-pod");
    let f = spec(&lan.host_a, &pod.name, "o/eth0", "10.0.0.197/23").no_announce().build().unwrap();
    f.attach().unwrap();
    assert!(lan.peer.ping("10.0.0.197"));
    let h = host(&lan.host_a);
    // A recheck period far beyond the test: only events and overruns
    // cause passes.
    let w = h.watch_with_rcvbuf(std::time::Duration::from_secs(3600), 1).unwrap();
    let mut batch = String::new();
    // veth pairs (this kernel may lack dummy): a few events each.
    for i in 0..200 {
        batch.push_str(&format!("link add ovr{i} type veth peer name ovr{i}p\n"));
        if i == 100 {
            batch.push_str("neigh del proxy 10.0.0.197 dev up0\n");
        }
    }
    for i in 0..200 {
        batch.push_str(&format!("link del ovr{i}\n"));
    }
    let file = format!("/tmp/{}-flood.batch", lan.host_a.name);
    std::fs::write(&file, batch).unwrap();
    lan.host_a.ip(&format!("-batch {file}"));
    std::fs::remove_file(&file).unwrap();
    eventually("the proxy entry back after the flood", || f.check().is_ok_and(|d| d.is_empty()));
    assert!(lan.peer.ping("10.0.0.197"), "after the flood");
    let report = w.stop().unwrap();
    assert!(report.overruns >= 1, "the socket never overran: {report:?}");
    assert!(report.repairs >= 1, "{report:?}");
    f.detach().unwrap();
}

/// `detach_many` cleans what is there when some members are gone already
/// or belong to someone else, and two drains at once (threads) never share
/// a link group: each removes exactly its own pods.
#[test]
fn detach_many_is_idempotent_and_drains_do_not_collide() {
    let lan = Lan::new("drain");
    let pods: Vec<TestNs> = (0..8).map(|i| TestNs::new(&format!("drain-p{i}"))).collect();
    let specs: Vec<FloatingIp> = pods
        .iter()
        .enumerate()
        .map(|(i, p)| {
            spec(&lan.host_a, &p.name, &format!("dr{i}/eth0"), &format!("10.0.0.{}/23", 210 + i))
                .no_announce()
                .build()
                .unwrap()
        })
        .collect();
    let h = Arc::new(host(&lan.host_a));
    for s in &specs {
        h.attach(s).unwrap();
    }
    // Two members vanish before the drain: one detached, one deleted by hand.
    h.detach(&specs[0]).unwrap();
    lan.host_a.ip(&format!("link del {}", specs[1].host_ifname()));
    // Two drains at once, on disjoint halves.
    let (a, b) = specs.split_at(4);
    std::thread::scope(|s| {
        let t1 = s.spawn(|| h.detach_many(a));
        let t2 = s.spawn(|| h.detach_many(b));
        t1.join().unwrap().unwrap();
        t2.join().unwrap().unwrap();
    });
    let names = links(&lan.host_a);
    for s in &specs {
        assert!(!names.contains(&s.host_ifname().to_string()), "{} left", s.attachment_id());
    }
    assert!(lan.host_a.ip_json("neigh show proxy").is_empty(), "the orphan of the hand-deleted veth too");
    assert!(h.list().unwrap().is_empty());
    // Again: nothing to do, no error.
    assert!(h.detach_many(&specs).unwrap().is_empty());
}
