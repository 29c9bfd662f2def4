//! Announcing a moved floating IP (issue: announce). Proof on the LAN: the
//! peer's neighbour entry switches from hostA's MAC to hostB's within a
//! second of one announcement, with `locktime` raised to 10 s so that only
//! frames Linux truly treats as gratuitous can pass; and tcpdump on the
//! switch confirms what went on the wire.

use std::time::{Duration, Instant};

use floatip::announce::{AnnounceOptions, Announcer, ArpMode};
use floatip::floating::{FloatingIp, NetnsRef};
use floatip::wire::arp::{ArpPacket, ArpRepr, Operation};
use floatip::wire::ethernet::{EtherType, EthernetFrame, EthernetRepr};
use floatip::wire::Mac;
use netlab::{Capture, Lan, TestNs, HOST_A_MAC, HOST_B_MAC};

fn spec(host: &TestNs, pod: &TestNs, ip: &str, announce: bool) -> FloatingIp {
    let mut b = FloatingIp::builder("default/moving", "up0")
        .host_netns(NetnsRef::Name(host.name.clone()))
        .pod_netns_name(pod.name.clone());
    b = if ip.contains(':') { b.ipv6(ip, "2001:db8::1") } else { b.ipv4(ip, "10.0.0.1") };
    if !announce {
        b = b.no_announce();
    }
    b.build().unwrap()
}

/// Polls (no fixed sleep) until the peer's entry for `ip` is `mac`.
fn switches_within(peer: &TestNs, ip: &str, mac: &str, limit: Duration) -> Option<Duration> {
    let t = Instant::now();
    while t.elapsed() < limit {
        if peer.neigh_mac(ip).as_deref() == Some(mac) {
            return Some(t.elapsed());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

/// Seeds the peer's cache through hostA, moves the pod to hostB as after a
/// node failure, and checks the negative control: traffic is lost and the
/// entry still names hostA. Returns the LAN and the pod on hostB.
fn moved(tag: &str, ip: &str) -> (Lan, TestNs, TestNs) {
    let lan = Lan::new(tag);
    // locktime 10 s (in USER_HZ): a non-gratuitous ARP cannot replace the
    // entry for 10 s after its last update.
    let dev = if ip.contains(':') { "ipv6" } else { "ipv4" };
    lan.peer.exec(&["sh", "-c", &format!("echo 1000 > /proc/sys/net/{dev}/neigh/lan0/locktime")]);
    let pod_a = TestNs::new(&format!("{tag}-a"));
    spec(&lan.host_a, &pod_a, &format!("{ip}/{}", if ip.contains(':') { 64 } else { 23 }), true).attach().unwrap();
    assert!(lan.peer.ping(ip), "peer reaches the pod on hostA");
    assert_eq!(lan.peer.neigh_mac(ip).as_deref(), Some(HOST_A_MAC));
    spec(&lan.host_a, &pod_a, &format!("{ip}/{}", if ip.contains(':') { 64 } else { 23 }), true).detach().unwrap();
    lan.host_a.ip("link set up0 down");
    let pod_b = TestNs::new(&format!("{tag}-b"));
    spec(&lan.host_b, &pod_b, &format!("{ip}/{}", if ip.contains(':') { 64 } else { 23 }), false).attach().unwrap();
    // Negative control: hostA is down, so nothing can forward to hostB.
    assert!(!lan.peer.ping(ip), "without an announcement the peer's traffic is lost");
    assert_eq!(lan.peer.neigh_mac(ip).as_deref(), Some(HOST_A_MAC), "the peer still points at hostA");
    (lan, pod_a, pod_b)
}

fn announce_once(lan: &Lan, ip: &str, arp: ArpMode) {
    let a = Announcer::new(&lan.host_b.ns, "up0").unwrap();
    let r = a.announce(&[ip.parse().unwrap()], &AnnounceOptions::default().count(1).arp(arp)).unwrap();
    assert_eq!(r.rounds, 1);
}

#[test]
fn gratuitous_request_switches_the_peer() {
    let (lan, _a, _b) = moved("req", "10.0.0.180");
    announce_once(&lan, "10.0.0.180", ArpMode::Request);
    let t = switches_within(&lan.peer, "10.0.0.180", HOST_B_MAC, Duration::from_secs(1));
    assert!(t.is_some(), "entry still {:?}", lan.peer.neigh_mac("10.0.0.180"));
    assert!(lan.peer.ping("10.0.0.180"), "traffic flows to hostB at once");
}

#[test]
fn gratuitous_reply_switches_the_peer() {
    let (lan, _a, _b) = moved("rep", "10.0.0.181");
    announce_once(&lan, "10.0.0.181", ArpMode::Reply);
    assert!(switches_within(&lan.peer, "10.0.0.181", HOST_B_MAC, Duration::from_secs(1)).is_some());
    assert!(lan.peer.ping("10.0.0.181"));
}

#[test]
fn both_forms_switch_the_peer() {
    let (lan, _a, _b) = moved("both", "10.0.0.182");
    announce_once(&lan, "10.0.0.182", ArpMode::Both);
    assert!(switches_within(&lan.peer, "10.0.0.182", HOST_B_MAC, Duration::from_secs(1)).is_some());
    assert!(lan.peer.ping("10.0.0.182"));
}

/// The control for `locktime`: a reply whose target MAC is broadcast is not
/// gratuitous to Linux, and within locktime it is ignored.
#[test]
fn non_gratuitous_reply_is_ignored_within_locktime() {
    let (lan, _a, _b) = moved("ngr", "10.0.0.183");
    let mac: Mac = HOST_B_MAC.parse().unwrap();
    let mut frame = [0u8; 60];
    let eth = EthernetRepr { src_addr: mac, dst_addr: Mac::BROADCAST, ethertype: EtherType::ARP };
    let mut f = EthernetFrame::new_unchecked(&mut frame[..]);
    eth.emit(&mut f);
    let arp = ArpRepr {
        operation: Operation::Reply,
        source_mac: mac,
        source_ip: "10.0.0.183".parse().unwrap(),
        target_mac: Mac::BROADCAST,
        target_ip: "10.0.0.183".parse().unwrap(),
    };
    arp.emit(&mut ArpPacket::new_unchecked(f.payload_mut()));
    let a = Announcer::new(&lan.host_b.ns, "up0").unwrap();
    a.send_raw(&[&frame[..]]).unwrap();
    assert!(switches_within(&lan.peer, "10.0.0.183", HOST_B_MAC, Duration::from_millis(700)).is_none());
    assert_eq!(lan.peer.neigh_mac("10.0.0.183").as_deref(), Some(HOST_A_MAC));
}

#[test]
fn unsolicited_na_switches_the_ipv6_peer() {
    let (lan, _a, _b) = moved("na", "2001:db8::184");
    announce_once(&lan, "2001:db8::184", ArpMode::Both);
    assert!(
        switches_within(&lan.peer, "2001:db8::184", HOST_B_MAC, Duration::from_secs(1)).is_some(),
        "entry still {:?}",
        lan.peer.neigh_mac("2001:db8::184")
    );
    assert!(lan.peer.ping("2001:db8::184"));
}

/// attach announces by default: the move needs nothing else.
#[test]
fn attach_announces_by_default() {
    let lan = Lan::new("auto");
    let pod_a = TestNs::new("auto-a");
    let fa = spec(&lan.host_a, &pod_a, "10.0.0.185/23", true);
    fa.attach().unwrap();
    assert!(lan.peer.ping("10.0.0.185"));
    fa.detach().unwrap();
    lan.host_a.ip("link set up0 down");
    let pod_b = TestNs::new("auto-b");
    let fb = spec(&lan.host_b, &pod_b, "10.0.0.185/23", true);
    let done = fb.attach().unwrap();
    assert_eq!(done.announced.len(), 1, "{done}");
    assert!(done.announced[0].contains("10.0.0.185") && done.announced[0].contains(HOST_B_MAC), "{done}");
    assert!(switches_within(&lan.peer, "10.0.0.185", HOST_B_MAC, Duration::from_secs(1)).is_some());
    assert!(lan.peer.ping("10.0.0.185"));
    // The background rounds finish on their own.
    let r = done.announcement.unwrap().wait().unwrap();
    assert_eq!(r.rounds, 3);
}

#[test]
fn tcpdump_sees_the_frames() {
    let lan = Lan::new("cap");
    // tcpdump on a switch port (the peer's): everything the LAN carries.
    let cap = Capture::start(&lan.switch, "p-peer", "arp or icmp6");
    let a = Announcer::new(&lan.host_b.ns, "up0").unwrap();
    let ips = ["10.0.0.190".parse().unwrap(), "10.0.0.191".parse().unwrap(), "2001:db8::190".parse().unwrap()];
    let opts = AnnounceOptions::default().count(2).interval(Duration::from_millis(100));
    let r = a.announce(&ips, &opts).unwrap();
    assert_eq!((r.rounds, r.frames), (2, 10));
    // All ten frames: eight ARP, two NA.
    let lines = cap.decode_when(|l| {
        l.iter().filter(|x| x.contains("ethertype ARP") || x.contains("neighbor advertisement")).count() >= 10
    });
    let text = lines.join("\n");
    let count = |pat: &str| lines.iter().filter(|l| l.contains(pat)).count();
    // Two rounds x two IPv4 addresses: a request and a reply each.
    for ip in ["10.0.0.190", "10.0.0.191"] {
        assert_eq!(count(&format!("Request who-has {ip} tell {ip}")), 2, "{text}");
        assert_eq!(count(&format!("Reply {ip} is-at {HOST_B_MAC}")), 2, "{text}");
    }
    // Sent from hostB's uplink MAC to broadcast, padded to the 60-byte minimum.
    let arp: Vec<&String> = lines.iter().filter(|l| l.contains("ARP")).collect();
    assert_eq!(arp.len(), 8, "{text}");
    assert!(arp.iter().all(|l| l.contains(&format!("{HOST_B_MAC} > ff:ff:ff:ff:ff:ff"))), "{text}");
    assert!(arp.iter().all(|l| l.contains("length 60")), "{text}");
    // Request target MAC zero: tcpdump prints a target MAC only when set.
    assert!(!text.contains("who-has 10.0.0.190 (ff:ff:ff:ff:ff:ff)"), "{text}");
    // IPv6: one unsolicited NA per round, Override set, to all nodes.
    assert_eq!(count("neighbor advertisement, length 32, tgt is 2001:db8::190, Flags [override]"), 2, "{text}");
    assert_eq!(count(&format!("destination link-address option (2), length 8 (1): {HOST_B_MAC}")), 2, "{text}");
    assert!(text.contains(&format!("{HOST_B_MAC} > 33:33:00:00:00:01")), "{text}");
    assert!(text.contains("2001:db8::190 > ff02::1"), "{text}");
    assert!(text.contains("hlim 255"), "{text}");
    assert!(text.contains("Flags [override]"), "{text}");
    assert!(!text.contains("bad icmp6 cksum"), "{text}");
}

#[test]
fn background_sender_stops_and_reports_errors() {
    let lan = Lan::new("bg");
    let ip = ["10.0.0.195".parse().unwrap()];
    // Stopped early: far fewer than 100 rounds.
    let a = Announcer::new(&lan.host_b.ns, "up0").unwrap();
    let bg = a.spawn(&ip, AnnounceOptions::default().count(100).interval(Duration::from_millis(50))).unwrap();
    std::thread::sleep(Duration::from_millis(180));
    let r = bg.stop().unwrap();
    assert!((2..=6).contains(&r.rounds), "{r:?}");
    assert_eq!(r.frames, u64::from(r.rounds) * 2);
    // An error in a background round is reported: the interface vanishes.
    let h = lan.host_b.handle();
    let mut v = floatip::VethSpec::new("gone0".parse().unwrap(), "gone1".parse().unwrap());
    v.peer_netns = None;
    h.veth_add(&v).unwrap();
    let i = h.link_get("gone0").unwrap().index;
    h.link_set_up(i).unwrap();
    h.link_set_up(h.link_get("gone1").unwrap().index).unwrap();
    let a = Announcer::new(&lan.host_b.ns, "gone0").unwrap();
    let bg = a.spawn(&ip, AnnounceOptions::default().count(5).interval(Duration::from_millis(50))).unwrap();
    h.link_del(i).unwrap();
    let e = bg.wait().unwrap_err();
    assert!(e.to_string().contains("gone0"), "{e}");
    // Bad input is refused before anything is sent.
    let a = Announcer::new(&lan.host_b.ns, "up0").unwrap();
    assert!(a.send_round(&["224.0.0.1".parse().unwrap()], &AnnounceOptions::default()).is_err());
    assert!(a
        .send_round(&["10.0.0.1".parse().unwrap()], &AnnounceOptions::default().mac(Some(Mac::BROADCAST)))
        .is_err());
}

/// Periodic re-announce (issue: moves): a peer whose entries were pointed
/// elsewhere by hand points at this node again within one period, for
/// the complete attachments only: a detached one, a tombstone and a
/// partial one are never announced.
#[test]
fn reannounce_points_the_peer_back_within_one_period() {
    let lan = Lan::new("rean");
    let host = floatip::Host::open(NetnsRef::Name(lan.host_a.name.clone()))
        .unwrap()
        .with_reap_pace(Duration::from_secs(3600), usize::MAX);
    let v6 = netlab::ipv6_available();
    let mut specs = Vec::new();
    let mut pods = Vec::new();
    for (i, (v4, v6ip)) in
        [("10.0.0.140", "2001:db8::140"), ("10.0.0.141", "2001:db8::141"), ("10.0.0.142", "2001:db8::142")]
            .into_iter()
            .enumerate()
    {
        let pod = TestNs::new(&format!("rean-p{i}"));
        let mut b = FloatingIp::builder(format!("default/rean-{i}"), "up0")
            .host_netns(NetnsRef::Name(lan.host_a.name.clone()))
            .pod_netns_name(pod.name.clone())
            .ipv4(format!("{v4}/23"), "10.0.0.1")
            .no_announce();
        if v6 {
            b = b.ipv6(format!("{v6ip}/64"), "2001:db8::1");
        }
        let f = b.build().unwrap();
        host.attach(&f).unwrap();
        assert!(lan.peer.ping(v4));
        if v6 {
            assert!(lan.peer.ping(v6ip));
        }
        specs.push(f);
        pods.push(pod);
    }
    // Pod 1 is detached (its veth a tombstone: the reaper waits an hour),
    // pod 2 partial: its proxy entry deleted by hand.
    host.detach(&specs[1]).unwrap();
    lan.host_a.ip("neigh del proxy 10.0.0.142 dev up0");
    let ips: Vec<&str> = if v6 {
        vec!["10.0.0.140", "2001:db8::140", "10.0.0.141", "10.0.0.142"]
    } else {
        vec!["10.0.0.140", "10.0.0.141", "10.0.0.142"]
    };
    // Elsewhere by hand: a MAC that is no node's, as a stale announcement
    // would leave it (STALE: a gratuitous ARP or NA with the override
    // flag replaces it; PERMANENT would not).
    let elsewhere = "02:00:00:00:0c:01";
    for ip in &ips {
        lan.peer.ip(&format!("neigh replace {ip} lladdr {elsewhere} dev lan0 nud stale"));
        assert_eq!(lan.peer.neigh_mac(ip).as_deref(), Some(elsewhere));
    }
    let period = Duration::from_millis(500);
    let opts = AnnounceOptions::default().count(1);
    let r = host.reannounce(period, opts).unwrap();
    for ip in ["10.0.0.140", "2001:db8::140"].into_iter().filter(|ip| v6 || !ip.contains(':')) {
        assert!(switches_within(&lan.peer, ip, HOST_A_MAC, period * 3).is_some(), "{ip}: not re-announced");
    }
    // Two more periods: the others were never announced.
    std::thread::sleep(period * 2);
    let report = r.stop();
    for ip in ["10.0.0.141", "10.0.0.142"] {
        assert_eq!(lan.peer.neigh_mac(ip).as_deref(), Some(elsewhere), "{ip} was announced: {report:?}");
    }
    // Passes are counted, not timed: a slow (emulated) kernel makes fewer.
    assert!(report.passes >= 1, "{report:?}");
    let per_pass = if v6 { 2 } else { 1 };
    assert_eq!(report.announced, report.passes * per_pass, "{report:?}");
    assert_eq!(report.failed, 0, "{report:?}");
    host.detach_sync(&specs[0]).unwrap();
    host.detach_sync(&specs[2]).unwrap();
}
