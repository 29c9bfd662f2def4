//! Uplinks other than a plain Ethernet device: 802.1Q VLANs on a trunk and
//! an active-backup bond (issue 12, the kernel lane). They need kernel
//! features this machine's 6.18 lacks (no 8021q, no bonding: `docs/testing.md`,
//! "What the lane tests that the host cannot"); Debian's 6.1 in the kernel
//! lane has both as modules, and the lane sets `FLOATIP_TEST_KERNEL_HAS` so
//! that these tests must run in full there.

use std::time::{Duration, Instant};

use floatip::floating::{FloatingIp, NetnsRef};
use floatip::{ErrorKind, IfName, Mac, VethSpec};
use netlab::{frames, Capture, Lan, TestNs, HOST_A_MAC};

/// Joins `ns` to the switch's bridge `br0` by a veth: `ifname` in `ns`,
/// `port` in the switch, both up.
fn plug(switch: &TestNs, ns: &TestNs, ifname: &str, port: &str, mac: Option<[u8; 6]>) {
    let sw = switch.handle();
    let mut v = VethSpec::new(IfName::new(port).unwrap(), IfName::new(ifname).unwrap());
    v.peer_netns = Some(&ns.ns);
    v.peer_mac = mac.map(Mac);
    sw.veth_add(&v).unwrap();
    let br = sw.link_get("br0").unwrap().index;
    let p = sw.link_get(port).unwrap().index;
    sw.link_set_master(p, Some(br)).unwrap();
    sw.link_set_up(p).unwrap();
}

/// `ip -d -j link show DEV` in `ns`: the kind-specific data.
fn info_data(ns: &TestNs, dev: &str) -> serde_json::Value {
    ns.ip_json(&format!("-d link show dev {dev}"))[0]["linkinfo"]["info_data"].clone()
}

/// Two VLANs (100 and 200) on hostA's trunk `up0`, a pod on each. The
/// switch is a VLAN-aware bridge: hostA's port carries both VLANs tagged,
/// each VLAN's gateway and peer sit on untagged access ports. `up0.100` is
/// the operator's (with a host address and an MTU of its own); `up0.200`
/// floatip makes, with the host address the spec gives (`lan_address`).
///
/// | VLAN | subnet | gateway | hostA (`up0.VID`) | peer | pod |
/// |---|---|---|---|---|---|
/// | 100 | 10.0.100.0/24 | .1 | .2 | .7 | .100 |
/// | 200 | 10.0.200.0/24 | .1 | .2 | .7 | .100 |
#[test]
fn vlans_on_a_trunk_end_to_end() {
    let switch = TestNs::new("vlan-sw");
    let host_a = TestNs::new("vlan-hostA");
    switch.handle().bridge_add(&IfName::new("br0").unwrap()).unwrap();
    plug(&switch, &host_a, "up0", "p-a", Some([2, 0, 0, 0, 0x0a, 1]));
    host_a.ip("link set up0 up");

    // The operator's VLAN device, made as `ip link add ... type vlan`
    // makes it, with a host address in its VLAN's subnet and a smaller
    // MTU: floatip uses it as it is.
    let made = host_a.ip_raw("link add link up0 name up0.100 type vlan id 100");
    if !made.status.success() {
        let err = String::from_utf8_lossy(&made.stderr);
        // No 8021q in this kernel: the kernel's own refusal, and floatip's
        // attempt to make the VLAN device is a typed NotSupported that
        // leaves nothing behind.
        assert!(!netlab::kernel_must_have("8021q"), "this kernel has 8021q, yet: {err}");
        assert!(err.contains("Unknown device type"), "{err}");
        let pod = TestNs::new("vlan-pod");
        let before = host_a.snapshot() + &pod.snapshot();
        let f = FloatingIp::builder("default/v100", "up0")
            .host_netns(NetnsRef::Name(host_a.name.clone()))
            .pod_netns_name(pod.name.clone())
            .ipv4("10.0.100.100/24", "10.0.100.1")
            .vlan(100)
            .lan_address("10.0.100.2/24")
            .build()
            .unwrap();
        let e = f.attach().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotSupported, "{e}");
        assert_eq!(e.ext_ack(), Some("Unknown device type"), "{e}");
        assert_eq!(host_a.snapshot() + &pod.snapshot(), before);
        eprintln!("vlans_on_a_trunk_end_to_end: no 8021q in this kernel: tested the typed refusal only");
        return;
    }
    host_a.ip("addr add 10.0.100.2/24 dev up0.100");
    host_a.ip("link set up0.100 mtu 1400 up");

    // The switch: VLAN filtering, hostA's port a trunk of 100 and 200.
    switch.ip("link set br0 type bridge vlan_filtering 1");
    switch.ip("link set br0 up");
    switch.exec(&["bridge", "vlan", "del", "dev", "p-a", "vid", "1"]);
    for vid in [100, 200] {
        let out = switch.exec(&["bridge", "vlan", "add", "dev", "p-a", "vid", &vid.to_string()]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    // Per VLAN a gateway and a peer on access ports.
    let mut members = Vec::new();
    for vid in [100u16, 200] {
        for (role, host, mac) in [("gw", 1u8, 0x01u8), ("peer", 7, 0x07)] {
            let ns = TestNs::new(&format!("vlan-{role}{vid}"));
            let port = format!("p-{role}{vid}");
            plug(&switch, &ns, "lan0", &port, Some([2, 0, 0, (vid / 100) as u8, mac, 1]));
            for args in [format!("vlan del dev {port} vid 1"), format!("vlan add dev {port} vid {vid} pvid untagged")] {
                let out = switch.exec(&["bridge"].into_iter().chain(args.split_whitespace()).collect::<Vec<_>>());
                assert!(out.status.success(), "bridge {args}: {}", String::from_utf8_lossy(&out.stderr));
            }
            ns.ip("link set lo up");
            ns.ip("link set lan0 up");
            ns.ip(&format!("addr add 10.0.{vid}.{host}/24 dev lan0"));
            members.push(ns);
        }
    }
    let (gw100, peer100, gw200, peer200) = (&members[0], &members[1], &members[2], &members[3]);
    // The host reaches the operator's VLAN's gateway through its device.
    assert!(host_a.ping("10.0.100.1"), "hostA -> gw100");
    // Something behind VLAN 200's gateway.
    gw200.ip("addr add 172.16.200.5/32 dev lo");
    gw200.ip("route add default via 10.0.200.2");

    // The announcements of both attaches, and every ARP on the trunk, as
    // its far side sees them.
    let cap = Capture::start(&switch, "p-a", "vlan and arp");
    let pods = [TestNs::new("vlan-pod100"), TestNs::new("vlan-pod200")];
    let specs: Vec<FloatingIp> = [100u16, 200]
        .iter()
        .zip(&pods)
        .map(|(vid, pod)| {
            FloatingIp::builder(format!("default/v{vid}"), "up0")
                .host_netns(NetnsRef::Name(host_a.name.clone()))
                .pod_netns_name(pod.name.clone())
                .ipv4(format!("10.0.{vid}.100/24"), format!("10.0.{vid}.1"))
                .vlan(*vid)
                .lan_address(format!("10.0.{vid}.2/24"))
                .build()
                .unwrap()
        })
        .collect();
    for (vid, f) in [100, 200].iter().zip(&specs) {
        let done = f.attach().unwrap();
        assert_eq!(done.uplink_mac.unwrap().to_string(), HOST_A_MAC);
        if *vid == 100 {
            // floatip used the operator's device (and its address) as it is.
            assert!(done.changes.iter().all(|c| !c.contains("type vlan") && !c.starts_with("ip addr add")), "{done}");
        } else {
            assert!(done.changes.iter().any(|c| c.contains("name up0.200 type vlan id 200")), "{done}");
            assert!(done.changes.iter().any(|c| c == "ip addr add 10.0.200.2/24 dev up0.200"), "{done}");
        }
        // The veths take the VLAN device's MTU, not the trunk's.
        let want = if *vid == 100 { 1400 } else { 1500 };
        assert_eq!(host_a.ip_json(&format!("link show dev {}", f.host_ifname()))[0]["mtu"], want);
        assert!(
            netlab::find(
                &host_a.ip_json(&format!("neigh show proxy dev up0.{vid}")),
                "dst",
                &format!("10.0.{vid}.100")
            )
            .is_some(),
            "proxy entry on up0.{vid}"
        );
        assert!(f.check().unwrap().is_empty(), "{:?}", f.check().unwrap());
        done.announcement.unwrap().wait().unwrap();
    }
    let announced = |l: &[String], vid: u16| {
        l.iter().any(|x| x.contains(&format!("vlan {vid},")) && x.contains(&format!("who-has 10.0.{vid}.100 tell")))
    };
    let lines = cap.decode_when(|l| announced(l, 100) && announced(l, 200));
    let text = lines.join("\n");
    for vid in [100, 200] {
        let ip = format!("10.0.{vid}.100");
        let tagged = lines
            .iter()
            .filter(|l| l.contains(&format!("vlan {vid},")) && l.contains(&format!("who-has {ip} tell {ip}")))
            .count();
        assert!(tagged >= 1, "no gratuitous ARP for {ip} tagged VLAN {vid} on the trunk:\n{text}");
        assert!(
            lines.iter().filter(|l| l.contains(&ip)).all(|l| l.contains(&format!("vlan {vid},"))),
            "{ip} announced outside VLAN {vid}:\n{text}"
        );
    }
    assert!(lines.iter().filter(|l| l.contains("who-has")).all(|l| l.contains(HOST_A_MAC)), "{text}");

    // Each VLAN's peer reaches its pod, each pod its gateway; the trunk
    // watched for how hostA resolves the gateways and for the VLAN the
    // pods' own packets travel in.
    let arps = Capture::start(&switch, "p-a", "vlan and ( arp or icmp )");
    assert!(peer100.ping("10.0.100.100"), "peer100 -> pod100");
    assert!(peer200.ping("10.0.200.100"), "peer200 -> pod200");
    assert!(pods[0].ping("10.0.100.1"), "pod100 -> gw100");
    assert!(pods[1].ping("10.0.200.1"), "pod200 -> gw200");
    assert!(pods[1].ping("172.16.200.5"), "pod200 -> behind gw200, by the VLAN's table");
    assert!(host_a.ping("10.0.200.1"), "hostA -> gw200 through the VLAN device floatip made");
    // Proxy ARP on each VLAN device answered for the pods: the LAN side
    // holds hostA's MAC for them.
    assert_eq!(peer100.neigh_mac("10.0.100.100").as_deref(), Some(HOST_A_MAC));
    assert_eq!(gw100.neigh_mac("10.0.100.100").as_deref(), Some(HOST_A_MAC));
    assert_eq!(peer200.neigh_mac("10.0.200.100").as_deref(), Some(HOST_A_MAC));
    assert_eq!(gw200.neigh_mac("10.0.200.100").as_deref(), Some(HOST_A_MAC));
    // hostA resolved each gateway with a sender address of that VLAN's
    // subnet, never another's.
    let echoed = |l: &[String], vid: u16| {
        frames(l).iter().any(|x| {
            x.contains(&format!("vlan {vid},"))
                && x.contains(&format!("10.0.{vid}.100 > 10.0.{vid}.1: ICMP echo request"))
        })
    };
    let lines = arps
        .decode_when(|l| l.iter().any(|x| x.contains("who-has 10.0.200.1 tell")) && echoed(l, 100) && echoed(l, 200));
    let text = lines.join("\n");
    for vid in [100u16, 200] {
        assert!(echoed(&lines, vid), "pod{vid}'s echo request to its gateway, tagged {vid}, not on the trunk:\n{text}");
        // Every ICMP packet of the pod, both ways (the peer's pings too,
        // and VLAN 200's pod to the address behind its gateway), carries
        // the pod's VLAN tag.
        let pod = format!("10.0.{vid}.100");
        let all = frames(&lines);
        let icmp: Vec<&String> = all.iter().filter(|l| l.contains("ICMP") && l.contains(&pod)).collect();
        assert!(icmp.len() >= 4, "{pod}: {} ICMP packets on the trunk:\n{text}", icmp.len());
        assert!(icmp.iter().all(|l| l.contains(&format!("vlan {vid},"))), "{pod}'s ICMP outside VLAN {vid}:\n{text}");
    }
    assert!(lines.iter().any(|l| l.contains("who-has 10.0.200.1 tell")), "hostA never asked for gw200:\n{text}");
    for vid in [100, 200] {
        for a in lines.iter().filter(|l| l.contains(&format!("who-has 10.0.{vid}.1 tell"))) {
            assert!(a.contains(&format!("vlan {vid},")) && a.contains(&format!("tell 10.0.{vid}.2")), "{a}\n{text}");
        }
    }

    for f in &specs {
        f.detach().unwrap();
    }
    assert!(host_a.ip_json("neigh show proxy").is_empty());
    assert!(!peer100.ping("10.0.100.100"), "detached");
}

/// How long failover may take: miimon 100 ms notices the dead slave.
const FAILOVER: Duration = Duration::from_secs(5);

/// hostA's uplink is an active-backup bond of two veths, both plugged into
/// the switch. The pod stays reachable when the active slave fails, and an
/// announcement leaves through the bond on the slave that is active then.
#[test]
fn bond_uplink_survives_a_slave_failure() {
    let lan = Lan::new("bond");
    let host_a = &lan.host_a;
    // hostA's plain uplink goes; the bond takes its MAC and address.
    host_a.ip("link del up0");
    let made = host_a.ip_raw(&format!("link add bond0 address {HOST_A_MAC} type bond mode active-backup miimon 100"));
    if !made.status.success() {
        let err = String::from_utf8_lossy(&made.stderr);
        // No bonding in this kernel. floatip has no bond verb of its own to
        // give a typed error: this is the kernel's refusal (EOPNOTSUPP,
        // which floatip maps to ErrorKind::NotSupported for any link kind
        // the kernel lacks), and the bond test does not run.
        assert!(!netlab::kernel_must_have("bonding"), "this kernel has bonding, yet: {err}");
        assert!(err.contains("Unknown device type"), "{err}");
        eprintln!("bond_uplink_survives_a_slave_failure: no bonding in this kernel: tested the refusal only");
        return;
    }
    for (slave, port) in [("s0", "p-s0"), ("s1", "p-s1")] {
        plug(&lan.switch, host_a, slave, port, None);
        // A slave is enslaved while down (bond_enslave brings it up itself).
        host_a.ip(&format!("link set {slave} down"));
        host_a.ip(&format!("link set {slave} master bond0"));
    }
    host_a.ip("link set bond0 up");
    host_a.ip("addr add 10.0.0.2/23 dev bond0");
    let active = || info_data(host_a, "bond0")["active_slave"].as_str().map(str::to_owned);
    let t = Instant::now();
    while active().is_none() && t.elapsed() < FAILOVER {
        std::thread::sleep(Duration::from_millis(50));
    }
    let first = active().expect("the bond has an active slave");
    let other = if first == "s0" { "s1" } else { "s0" };
    assert_eq!(info_data(host_a, "bond0")["mode"], "active-backup");

    let pod = TestNs::new("bond-pod");
    let f = FloatingIp::builder("default/bond", "bond0")
        .host_netns(NetnsRef::Name(host_a.name.clone()))
        .pod_netns_name(pod.name.clone())
        .ipv4("10.0.0.100/23", "10.0.0.1")
        .build()
        .unwrap();
    let done = f.attach().unwrap();
    assert_eq!(done.uplink_mac.unwrap().to_string(), HOST_A_MAC);
    assert!(netlab::find(&host_a.ip_json("neigh show proxy dev bond0"), "dst", "10.0.0.100").is_some());
    assert!(lan.peer.ping("10.0.0.100"), "peer -> pod through the bond");
    assert!(pod.ping("10.0.0.1"), "pod -> gateway through the bond");
    assert_eq!(lan.peer.neigh_mac("10.0.0.100").as_deref(), Some(HOST_A_MAC));
    done.announcement.unwrap().wait().unwrap();

    // The active slave fails.
    host_a.ip(&format!("link set {first} down"));
    let t = Instant::now();
    while active().as_deref() != Some(other) && t.elapsed() < FAILOVER {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(active().as_deref(), Some(other), "the bond failed over");
    // The pod stays reachable (the switch relearns hostA's MAC on the other
    // port from the bond's own gratuitous ARP after failover).
    assert!((0..3).any(|_| lan.peer.ping_wait("10.0.0.100", 2)), "peer -> pod after the failover to {other}");

    // A re-announcement leaves through the bond, on the now-active slave's
    // link: tcpdump on its switch port.
    let cap = Capture::start(&lan.switch, &format!("p-{other}"), "arp");
    let again = f.attach().unwrap();
    assert!(again.changes.is_empty(), "{again}");
    assert!(!again.announced.is_empty(), "{again}");
    again.announcement.unwrap().wait().unwrap();
    let announced = |l: &[String]| {
        l.iter().any(|x| {
            x.contains(&format!("{HOST_A_MAC} > ff:ff:ff:ff:ff:ff"))
                && x.contains("Request who-has 10.0.0.100 tell 10.0.0.100")
        })
    };
    let lines = cap.decode_when(announced);
    let text = lines.join("\n");
    assert!(announced(&lines), "no announcement on {other}'s link:\n{text}");
    assert!(lan.peer.ping("10.0.0.100"));
    f.detach().unwrap();
    assert!(host_a.ip_json("neigh show proxy").is_empty());
}
