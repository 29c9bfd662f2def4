//! Integration tests for floatip-core's objects (issue: core foundation).
//!
//! Each test builds its own namespaces (netlab::TestNs) and checks every
//! operation twice: through floatip and through iproute2's `ip -j` output.

use std::net::IpAddr;

use floatip::route::{PROTO_STATIC, SCOPE_LINK};
use floatip::{AddrOptions, ErrorKind, Handle, IfName, IpPrefix, Mac, Netns, Route, RouteFilter, SysctlKey, VethSpec};
use netlab::{find, TestNs};
use serde_json::Value;

fn name(s: &str) -> IfName {
    IfName::new(s).unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn prefix(s: &str) -> IpPrefix {
    s.parse().unwrap()
}

/// A veth pair a0 (in `a`) ↔ b0 (in `b`), both up.
fn pair(a: &TestNs, b: &TestNs) -> (Handle, Handle, u32, u32) {
    let ha = a.handle();
    let hb = b.handle();
    let mut v = VethSpec::new(name("a0"), name("b0"));
    v.peer_netns = Some(&b.ns);
    ha.veth_add(&v).unwrap();
    let ia = ha.link_get("a0").unwrap().index;
    let ib = hb.link_get("b0").unwrap().index;
    ha.link_set_up(ia).unwrap();
    hb.link_set_up(ib).unwrap();
    (ha, hb, ia, ib)
}

#[test]
fn netns_create_open_delete() {
    netlab::require_root();
    let before = Netns::current().unwrap();
    let t = TestNs::new("ns");
    // The caller's thread never stays in the new namespace.
    assert!(Netns::current().unwrap().same_as(&before).unwrap());
    assert!(!t.ns.same_as(&before).unwrap());

    // ip netns list sees it; open by name, by both run-dir paths, by /proc.
    let listed =
        String::from_utf8(std::process::Command::new("ip").args(["netns", "list"]).output().unwrap().stdout).unwrap();
    assert!(listed.lines().any(|l| l.split_whitespace().next() == Some(t.name.as_str())));
    let by_name = Netns::open(&t.name).unwrap();
    assert!(by_name.same_as(&t.ns).unwrap());
    assert_eq!(by_name.name(), Some(t.name.as_str()));
    let by_path = Netns::open_path(format!("/var/run/netns/{}", t.name)).unwrap();
    assert!(by_path.same_as(&t.ns).unwrap());
    let tid_path = t.ns.run(|| format!("/proc/self/task/{}/ns/net", unsafe_gettid())).unwrap();
    // A thread's /proc path is only valid while it lives; use a helper thread
    // that parks inside the namespace until we have opened it.
    let _ = tid_path;
    let (tx, rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let ns2 = t.open();
    let th = std::thread::spawn(move || {
        ns2.run(move || {
            tx.send(format!("/proc/self/task/{}/ns/net", unsafe_gettid())).unwrap();
            done_rx.recv().unwrap();
        })
        .unwrap()
    });
    let p = rx.recv().unwrap();
    let by_proc = Netns::open_path(&p).unwrap();
    assert!(by_proc.same_as(&t.ns).unwrap());
    done_tx.send(()).unwrap();
    th.join().unwrap();

    // run() executes inside: its own handle sees only lo.
    let links = t.ns.run(|| Handle::new().unwrap().links().unwrap()).unwrap();
    assert_eq!(links.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(), vec!["lo"]);

    // Creating the same name again: AlreadyExists, and the namespace is untouched.
    let e = Netns::create(&t.name).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists, "{e}");
    assert!(Netns::open(&t.name).unwrap().same_as(&t.ns).unwrap());

    // Delete, then it is gone for name lookups.
    Netns::delete(&t.name).unwrap();
    assert_eq!(Netns::open(&t.name).unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(Netns::delete(&t.name).unwrap_err().kind(), ErrorKind::NotFound);
}

fn unsafe_gettid() -> i64 {
    // SAFETY: gettid has no preconditions.
    #[allow(unsafe_code)]
    unsafe {
        libc::syscall(libc::SYS_gettid)
    }
}

#[test]
fn netns_path_must_be_a_network_namespace() {
    netlab::require_root();
    for p in ["/proc/self/ns/uts", "/etc/hostname", "/proc/self/ns/mnt"] {
        let e = Netns::open_path(p).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{p}: {e}");
    }
    assert_eq!(Netns::open_path("/run/netns/fipt-does-not-exist").unwrap_err().kind(), ErrorKind::NotFound);
    for bad in ["", ".", "..", "a/b", "../../etc"] {
        assert_eq!(Netns::create(bad).unwrap_err().kind(), ErrorKind::InvalidInput, "{bad:?}");
        assert_eq!(Netns::open(bad).unwrap_err().kind(), ErrorKind::InvalidInput, "{bad:?}");
    }
}

#[test]
fn veth_peer_created_in_other_netns_with_macs() {
    let host = TestNs::new("host");
    let pod = TestNs::new("pod");
    let h = host.handle();
    let hp = pod.handle();
    let mut v = VethSpec::new(name("vh-test"), name("eth0"));
    v.mac = Some(Mac([0x02, 0, 0, 0, 0x10, 0x01]));
    v.peer_mac = Some(Mac([0x02, 0, 0, 0, 0x10, 0x02]));
    v.peer_netns = Some(&pod.ns);
    v.mtu = Some(1400);
    h.veth_add(&v).unwrap();

    // Through floatip.
    let vh = h.link_get("vh-test").unwrap();
    let eth0 = hp.link_get("eth0").unwrap();
    assert_eq!(vh.mac, v.mac);
    assert_eq!(eth0.mac, v.peer_mac);
    assert_eq!((vh.mtu, eth0.mtu), (1400, 1400));
    assert_eq!(vh.kind.as_deref(), Some("veth"));
    assert!(vh.link_netnsid.is_some(), "peer is in another netns");
    assert_eq!(h.link_get_index(vh.index).unwrap().name, "vh-test");
    assert!(h.link_get("eth0").unwrap_err().is_not_found());

    // Through iproute2.
    let j = host.ip_json("-d link show dev vh-test");
    assert_eq!(j[0]["address"], "02:00:00:00:10:01");
    assert_eq!(j[0]["mtu"], 1400);
    assert_eq!(j[0]["linkinfo"]["info_kind"], "veth");
    let j = pod.ip_json("link show dev eth0");
    assert_eq!(j[0]["address"], "02:00:00:00:10:02");

    // Up/down and MTU, both ends.
    h.link_set_up(vh.index).unwrap();
    hp.link_set_up(eth0.index).unwrap();
    assert!(h.link_get("vh-test").unwrap().up);
    let flags = &host.ip_json("link show dev vh-test")[0]["flags"];
    assert!(flags.as_array().unwrap().iter().any(|f| f == "UP"));
    h.link_set_mtu(vh.index, 1300).unwrap();
    assert_eq!(host.ip_json("link show dev vh-test")[0]["mtu"], 1300);
    h.link_set_down(vh.index).unwrap();
    assert!(!h.link_get("vh-test").unwrap().up);

    // The same name again: AlreadyExists with the kernel's errno.
    let e = h.veth_add(&VethSpec::new(name("vh-test"), name("x0"))).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists, "{e}");
    assert_eq!(e.errno(), Some(libc::EEXIST));
    assert_eq!(e.op(), "RTM_NEWLINK");

    // Delete the host end: the pod end goes with it.
    h.link_del(vh.index).unwrap();
    assert!(h.link_get("vh-test").unwrap_err().is_not_found());
    assert!(hp.link_get("eth0").unwrap_err().is_not_found());
    assert!(pod.ip_json("link show").iter().all(|l| l["ifname"] != "eth0"));
    assert_eq!(h.link_del(vh.index).unwrap_err().kind(), ErrorKind::NotFound);
}

#[test]
fn links_list_matches_iproute2() {
    let a = TestNs::new("list-a");
    let b = TestNs::new("list-b");
    let (ha, _, _, _) = pair(&a, &b);
    let mut ours: Vec<(u32, String)> = ha.links().unwrap().into_iter().map(|l| (l.index, l.name)).collect();
    let mut theirs: Vec<(u32, String)> = a
        .ip_json("link show")
        .iter()
        .map(|l| (l["ifindex"].as_u64().unwrap() as u32, l["ifname"].as_str().unwrap().to_owned()))
        .collect();
    ours.sort();
    theirs.sort();
    assert_eq!(ours, theirs);
}

#[test]
fn bridge_and_enslave() {
    let t = TestNs::new("br");
    let other = TestNs::new("br-o");
    let (h, _, ia, _) = pair(&t, &other);
    h.bridge_add(&name("br0")).unwrap();
    let br = h.link_get("br0").unwrap();
    assert_eq!(br.kind.as_deref(), Some("bridge"));
    h.link_set_master(ia, Some(br.index)).unwrap();
    assert_eq!(h.link_get_index(ia).unwrap().master, Some(br.index));
    assert_eq!(find(&t.ip_json("link show"), "ifname", "a0").unwrap()["master"], "br0");
    h.link_set_master(ia, None).unwrap();
    assert_eq!(h.link_get_index(ia).unwrap().master, None);
}

#[test]
fn vlan_is_a_typed_not_supported_error_on_this_kernel() {
    // This machine's kernel has no 8021q (docs/testing.md, "What the lane
    // tests that the host cannot"). The request bytes are checked against
    // iproute2's in the unit tests; here the kernel's refusal must be typed
    // and keep the kernel's own text. On a kernel with 8021q the link must
    // exist and carry the id.
    let t = TestNs::new("vlan");
    let other = TestNs::new("vlan-o");
    let (h, _, ia, _) = pair(&t, &other);
    match h.vlan_add(&name("a0.100"), ia, 100) {
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::NotSupported, "{e}");
            assert!(!netlab::kernel_must_have("8021q"), "this kernel has 8021q, yet: {e}");
            assert_eq!(e.ext_ack(), Some("Unknown device type"), "{e}");
            assert!(h.link_get("a0.100").unwrap_err().is_not_found());
        }
        Ok(()) => {
            let l = h.link_get("a0.100").unwrap();
            assert_eq!((l.kind.as_deref(), l.vlan_id, l.link), (Some("vlan"), Some(100), Some(ia)));
        }
    }
    assert_eq!(h.vlan_add(&name("a0.5000"), ia, 5000).unwrap_err().kind(), ErrorKind::InvalidInput);
}

#[test]
fn addresses_v4_v6() {
    let a = TestNs::new("addr-a");
    let b = TestNs::new("addr-b");
    let (h, _, ia, _) = pair(&a, &b);
    h.addr_add(ia, prefix("10.0.0.100/23"), AddrOptions::default()).unwrap();
    h.addr_add(ia, prefix("2001:db8::100/64"), AddrOptions::default().nodad(true)).unwrap();

    let ours = h.addrs(Some(ia)).unwrap();
    assert!(ours.iter().any(|x| x.prefix == prefix("10.0.0.100/23")));
    let v6 = ours.iter().find(|x| x.prefix == prefix("2001:db8::100/64")).unwrap();
    assert!(v6.nodad() && !v6.tentative());

    let j = a.ip_json("addr show dev a0");
    let infos = j[0]["addr_info"].as_array().unwrap();
    let v4 = infos.iter().find(|i| i["local"] == "10.0.0.100").unwrap();
    assert_eq!(v4["prefixlen"], 23);
    assert_eq!(v4["broadcast"], "10.0.1.255");
    let v6 = infos.iter().find(|i| i["local"] == "2001:db8::100").unwrap();
    assert_eq!(v6["nodad"], true);
    assert!(v6.get("tentative").is_none());

    // add twice: AlreadyExists; replace: fine.
    let e = h.addr_add(ia, prefix("10.0.0.100/23"), AddrOptions::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists, "{e}");
    h.addr_replace(ia, prefix("10.0.0.100/23"), AddrOptions::default()).unwrap();

    h.addr_del(ia, prefix("10.0.0.100/23")).unwrap();
    h.addr_del(ia, prefix("2001:db8::100/64")).unwrap();
    assert!(h
        .addrs(Some(ia))
        .unwrap()
        .iter()
        .all(|x| x.prefix.addr() != ip("10.0.0.100") && x.prefix.addr() != ip("2001:db8::100")));
    let e = h.addr_del(ia, prefix("10.0.0.100/23")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    // Unfiltered listing includes lo's 127.0.0.1 once lo is up.
    h.link_set_up(1).unwrap();
    assert!(h.addrs(None).unwrap().iter().any(|x| x.prefix.addr() == ip("127.0.0.1") && x.index == 1));
}

#[test]
fn routes_host_default_table_protocol() {
    let a = TestNs::new("rt-a");
    let b = TestNs::new("rt-b");
    let (h, _, ia, _) = pair(&a, &b);
    h.addr_add(ia, prefix("10.0.0.2/23"), AddrOptions::default()).unwrap();

    // ip route add 10.0.0.100/32 dev a0 scope link
    let host = Route::to(prefix("10.0.0.100/32")).dev(ia);
    h.route_add(&host).unwrap();
    // ip route add default via 10.0.0.1
    let dflt = Route::default_via(ip("10.0.0.1")).dev(ia);
    h.route_add(&dflt).unwrap();
    // ip route add 192.168.7.0/24 via 10.0.0.1 table 100 proto static
    let t100 = Route::to(prefix("192.168.7.0/24")).via(ip("10.0.0.1")).table(100).protocol(PROTO_STATIC);
    h.route_add(&t100).unwrap();
    // IPv6 /128 to the device.
    h.addr_add(ia, prefix("2001:db8::2/64"), AddrOptions::default().nodad(true)).unwrap();
    h.route_add(&Route::to(prefix("2001:db8::100/128")).dev(ia)).unwrap();

    let main = h.routes(RouteFilter::default().ipv4(Some(true))).unwrap();
    let r = main.iter().find(|r| r.dst == prefix("10.0.0.100/32")).unwrap();
    assert_eq!((r.oif, r.scope, r.gateway), (Some(ia), Some(SCOPE_LINK), None));
    let d = main.iter().find(|r| r.dst.len() == 0).unwrap();
    assert_eq!(d.gateway, Some(ip("10.0.0.1")));
    assert!(main.iter().all(|r| r.table == 254));
    let t = h.routes(RouteFilter::default().table(Some(100))).unwrap();
    assert_eq!(t.len(), 1);
    assert_eq!((t[0].protocol, t[0].table), (PROTO_STATIC, 100));
    let v6 = h.routes(RouteFilter::default().ipv4(Some(false)).oif(Some(ia))).unwrap();
    assert!(v6.iter().any(|r| r.dst == prefix("2001:db8::100/128")));

    let j = a.ip_json("route show");
    let r = find(&j, "dst", "10.0.0.100").unwrap();
    assert_eq!((r["dev"].as_str(), r["scope"].as_str()), (Some("a0"), Some("link")));
    assert_eq!(find(&j, "dst", "default").unwrap()["gateway"], "10.0.0.1");
    let j = a.ip_json("route show table 100");
    assert_eq!(j[0]["protocol"], "static");
    assert!(find(&a.ip_json("-6 route show"), "dst", "2001:db8::100").is_some());

    // add twice: AlreadyExists; replace: fine; delete: gone; delete again: NotFound.
    assert_eq!(h.route_add(&host).unwrap_err().kind(), ErrorKind::AlreadyExists);
    h.route_replace(&host).unwrap();
    h.route_del(&host).unwrap();
    assert!(find(&a.ip_json("route show"), "dst", "10.0.0.100").is_none());
    let e = h.route_del(&host).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    h.route_del(&t100).unwrap();
    assert!(a.ip_json("route show table 100").is_empty());
    // A gateway of the wrong family is refused before any syscall.
    let bad = Route::to(prefix("10.9.0.0/16")).via(ip("2001:db8::1"));
    assert_eq!(h.route_add(&bad).unwrap_err().kind(), ErrorKind::InvalidInput);
}

#[test]
fn neighbours_permanent_and_proxy() {
    let a = TestNs::new("nb-a");
    let b = TestNs::new("nb-b");
    let (h, _, ia, _) = pair(&a, &b);
    let mac = Mac([0x02, 0xaa, 0, 0, 0, 1]);
    h.neigh_add(ia, ip("10.0.0.7"), mac).unwrap();
    h.neigh_proxy_add(ia, ip("10.0.0.100")).unwrap();
    h.neigh_proxy_add(ia, ip("2001:db8::100")).unwrap();

    let n = h.neighbours(Some(ia)).unwrap();
    let e = n.iter().find(|x| x.ip == ip("10.0.0.7")).unwrap();
    assert_eq!((e.mac, e.state, e.proxy), (Some(mac), floatip::neighbour::NUD_PERMANENT, false));
    let p = h.neigh_proxies(Some(ia)).unwrap();
    let mut pips: Vec<IpAddr> = p.iter().map(|x| x.ip).collect();
    pips.sort();
    assert_eq!(pips, vec![ip("10.0.0.100"), ip("2001:db8::100")]);
    assert!(p.iter().all(|x| x.proxy && x.index == ia));

    let j = a.ip_json("neigh show dev a0");
    let e = find(&j, "dst", "10.0.0.7").unwrap();
    assert_eq!(e["lladdr"], "02:aa:00:00:00:01");
    assert_eq!(e["state"], Value::Array(vec!["PERMANENT".into()]));
    assert!(find(&a.ip_json("neigh show proxy"), "dst", "10.0.0.100").is_some());
    assert!(find(&a.ip_json("-6 neigh show proxy"), "dst", "2001:db8::100").is_some());

    // The kernel treats a second proxy add as success and keeps one entry.
    h.neigh_proxy_add(ia, ip("10.0.0.100")).unwrap();
    assert_eq!(h.neigh_proxies(Some(ia)).unwrap().iter().filter(|x| x.ip == ip("10.0.0.100")).count(), 1);
    h.neigh_replace(ia, ip("10.0.0.7"), Mac([0x02, 0xbb, 0, 0, 0, 1])).unwrap();
    assert_eq!(find(&a.ip_json("neigh show dev a0"), "dst", "10.0.0.7").unwrap()["lladdr"], "02:bb:00:00:00:01");
    h.neigh_del(ia, ip("10.0.0.7")).unwrap();
    h.neigh_proxy_del(ia, ip("10.0.0.100")).unwrap();
    h.neigh_proxy_del(ia, ip("2001:db8::100")).unwrap();
    assert!(h.neigh_proxies(None).unwrap().is_empty());
    assert!(a.ip_json("neigh show proxy").is_empty());
    assert_eq!(h.neigh_proxy_del(ia, ip("10.0.0.100")).unwrap_err().kind(), ErrorKind::NotFound);
}

#[test]
fn sysctl_lands_in_its_own_netns() {
    let a = TestNs::new("sc-a");
    let b = TestNs::new("sc-b");
    pair(&a, &b);
    let root_forward = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    let a0 = name("a0");
    let b0 = name("b0");
    a.ns.sysctl_set(&SysctlKey::ipv4_forward(), "1").unwrap();
    a.ns.sysctl_set(&SysctlKey::ipv4_neigh(&a0, "proxy_delay").unwrap(), "0").unwrap();
    a.ns.sysctl_set(&SysctlKey::ipv4_conf(&a0, "proxy_arp").unwrap(), "1").unwrap();
    a.ns.sysctl_set(&SysctlKey::ipv6_conf(&a0, "proxy_ndp").unwrap(), "1").unwrap();
    a.ns.sysctl_set(&SysctlKey::ipv6_neigh(&a0, "proxy_delay").unwrap(), "0").unwrap();

    // Read back through floatip and through `ip netns exec cat`.
    assert_eq!(a.ns.sysctl_get(&SysctlKey::ipv4_forward()).unwrap(), "1");
    assert_eq!(a.sysctl("net.ipv4.ip_forward"), "1");
    assert_eq!(a.sysctl("net.ipv4.conf.a0.proxy_arp"), "1");
    assert_eq!(a.sysctl("net.ipv4.neigh.a0.proxy_delay"), "0");
    assert_eq!(a.sysctl("net.ipv6.conf.a0.proxy_ndp"), "1");
    assert_eq!(a.sysctl("net.ipv6.neigh.a0.proxy_delay"), "0");
    // Other namespaces are untouched: b and the root namespace.
    assert_eq!(b.sysctl("net.ipv4.ip_forward"), "0");
    assert_eq!(b.sysctl("net.ipv4.conf.b0.proxy_arp"), "0");
    assert_eq!(std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(), root_forward);
    // A device that is not in this namespace: NotFound, nothing written.
    let e = a.ns.sysctl_set(&SysctlKey::ipv4_conf(&b0, "proxy_arp").unwrap(), "1").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");

    // The same from many threads at once: each write lands in its own netns.
    std::thread::scope(|s| {
        for (ns, v) in [(&a, "0"), (&b, "1")] {
            s.spawn(move || {
                for _ in 0..50 {
                    ns.ns.sysctl_set(&SysctlKey::ipv4_forward(), v).unwrap();
                }
            });
        }
    });
    assert_eq!(a.sysctl("net.ipv4.ip_forward"), "0");
    assert_eq!(b.sysctl("net.ipv4.ip_forward"), "1");
}

#[test]
fn bad_input_is_refused_before_any_change() {
    let a = TestNs::new("bad-a");
    let b = TestNs::new("bad-b");
    let (h, _, ia, _) = pair(&a, &b);
    let before = a.snapshot();
    // Interface names: every rule.
    for bad in ["", ".", "..", "a/b", "a:b", "a b", "x\ty", "0123456789abcdef", "../../../x"] {
        assert_eq!(h.link_get(bad).unwrap_err().kind(), ErrorKind::InvalidInput, "{bad:?}");
        assert!(IfName::new(bad).is_err());
    }
    // Prefix lengths and families.
    for bad in ["10.0.0.1/33", "2001:db8::1/129", "10.0.0/24", "nonsense"] {
        assert_eq!(bad.parse::<IpPrefix>().unwrap_err().kind(), ErrorKind::InvalidInput, "{bad}");
    }
    assert_eq!(
        h.route_add(&Route::to(prefix("10.1.0.0/16")).via(ip("fe80::1"))).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    assert_eq!(h.vlan_add(&name("a0.0"), ia, 0).unwrap_err().kind(), ErrorKind::InvalidInput);
    // Sysctl keys cannot leave /proc/sys/net.
    for bad in ["kernel.hostname", "net.ipv4.conf.../../../../etc.passwd", "net.ipv4.conf.a0.Proxy_arp", "net"] {
        assert_eq!(SysctlKey::parse(bad).unwrap_err().kind(), ErrorKind::InvalidInput, "{bad}");
    }
    assert!(SysctlKey::ipv4_conf(&name("a0"), "../x").is_err());
    assert_eq!(a.ns.sysctl_set(&SysctlKey::ipv4_forward(), "1\n0").unwrap_err().kind(), ErrorKind::InvalidInput);
    // Namespace names.
    for bad in ["", "..", "x/y"] {
        assert_eq!(Netns::create(bad).unwrap_err().kind(), ErrorKind::InvalidInput);
    }
    assert_eq!(a.snapshot(), before, "a refused request changed the namespace");
    assert_eq!(a.sysctl("net.ipv4.ip_forward"), "0");
}

#[test]
fn one_handle_shared_by_threads() {
    let a = TestNs::new("thr-a");
    let b = TestNs::new("thr-b");
    let (h, _, ia, _) = pair(&a, &b);
    std::thread::scope(|s| {
        for t in 0..8u8 {
            let h = &h;
            s.spawn(move || {
                for i in 0..20u8 {
                    let p = IpPrefix::new(IpAddr::from([10, 1, t, i + 1]), 32).unwrap();
                    h.route_add(&Route::to(p).dev(ia)).unwrap();
                    assert_eq!(h.link_get("a0").unwrap().index, ia);
                }
            });
        }
    });
    let ours = h.routes(RouteFilter::default().ipv4(Some(true)).oif(Some(ia))).unwrap();
    assert_eq!(ours.iter().filter(|r| r.dst.is_host()).count(), 160);
    assert_eq!(
        a.ip_json("route show dev a0").iter().filter(|r| r["dst"].as_str().unwrap().starts_with("10.1.")).count(),
        160
    );
}

#[test]
fn errors_keep_op_object_errno_and_ext_ack() {
    let a = TestNs::new("err");
    let h = a.handle();
    // A route through a missing device: the kernel's ENODEV and its text.
    let e = h.route_add(&Route::to(prefix("10.0.0.100/32")).dev(999)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(e.op(), "RTM_NEWROUTE");
    assert_eq!(e.errno(), Some(libc::ENODEV));
    assert!(e.to_string().contains("10.0.0.100/32 dev ifindex 999"), "{e}");
    // A gateway that is not on any link: the kernel's ENETUNREACH and its
    // own words, as `ip route add` prints them.
    let e = h.route_add(&Route::to(prefix("10.9.0.0/16")).via(ip("192.168.99.1"))).unwrap_err();
    assert_eq!(e.errno(), Some(libc::ENETUNREACH), "{e}");
    assert_eq!(e.ext_ack(), Some("Nexthop has invalid gateway"), "{e}");
    assert!(e.to_string().contains(e.ext_ack().unwrap()), "{e}");
}
