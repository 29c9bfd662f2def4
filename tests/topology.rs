//! Real node topologies (issue 11, `docs/guide.md`, "Topologies"): a
//! multi-homed host whose default route leaves by a management interface,
//! anti-spoofing on the pod's veth, and IPv6 forwarding that keeps the
//! node's router advertisements. Proof is what a user sees: pings, what
//! tcpdump saw on each link, and the rules and tables as `ip rule` /
//! `ip route` print them.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use floatip::floating::{FloatingIp, FloatingIpBuilder, NetnsRef};
use netlab::{frames, Capture, Lan, TestNs, HOST_A_MAC};
use serde_json::Value;

/// MAC of the gateway's LAN interface (`netlab::Lan`).
const GW_MAC: &str = "02:00:00:00:01:01";

/// A routed-mode spec for pod `pod` on `host` (a Lan member), dual stack
/// when `v6` is given.
fn spec(host: &TestNs, pod: &TestNs, key: &str, v4: &str, v6: Option<&str>) -> FloatingIpBuilder {
    let b = FloatingIp::builder(key, "up0")
        .host_netns(NetnsRef::Name(host.name.clone()))
        .pod_netns_name(pod.name.clone())
        .ipv4(v4, "10.0.0.1");
    match v6 {
        Some(a) => b.ipv6(a, "2001:db8::1"),
        None => b,
    }
}

/// Writes a sysctl of a test namespace (never the root namespace's), in
/// process: under emulation every process the tests start costs.
fn sysctl_set(ns: &TestNs, dotted: &str, value: &str) {
    let key = floatip::SysctlKey::parse(dotted).unwrap();
    ns.ns.sysctl_set(&key, value).unwrap_or_else(|e| panic!("{}: {dotted}={value}: {e}", ns.name));
}

/// Sets the links `names` of `ns` up (and its `lo`).
fn links_up(ns: &TestNs, names: &[&str]) {
    let h = ns.handle();
    for n in names.iter().copied().chain(["lo"]) {
        h.link_set_up(h.link_get(n).unwrap().index).unwrap();
    }
}

/// A veth `a_if` in `a` whose peer `b_if` is in `b`, both up, without IPv6
/// DAD (so that link-local addresses are usable at once and never change
/// state between two snapshots).
fn veth_between(a: &TestNs, a_if: &str, b: &TestNs, b_if: &str) {
    a.ip(&format!("link add {a_if} type veth peer name {b_if} netns {}", b.name));
    for (ns, ifname) in [(a, a_if), (b, b_if)] {
        if netlab::ipv6_available() {
            sysctl_set(ns, &format!("net.ipv6.conf.{ifname}.accept_dad"), "0");
        }
        links_up(ns, &[ifname]);
    }
}

/// Pings each of `dsts` from `ns` (`ping -c 1 -W 1`), all from one
/// `ip netns exec`: the destinations that gave no reply.
fn unreachable(ns: &TestNs, dsts: &[&str]) -> Vec<String> {
    assert!(netlab::have("ping"), "ping is missing: `make test` installs iputils-ping");
    let script = r#"for d in "$@"; do ping -n -q -c 1 -W 1 "$d" >/dev/null 2>&1 && echo "ok $d" || echo "no $d"; done"#;
    let mut cmd = vec!["sh", "-c", script, "sh"];
    cmd.extend(dsts);
    let out = ns.exec(&cmd);
    let text = String::from_utf8_lossy(&out.stdout);
    let answered: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("ok ")).collect();
    assert_eq!(text.lines().count(), dsts.len(), "{}: {text}{}", ns.name, String::from_utf8_lossy(&out.stderr));
    dsts.iter().filter(|d| !answered.contains(d)).map(|d| d.to_string()).collect()
}

/// `ping -c 1 -W 1 [-I SRC] DST` from `ns`: true when a reply came.
fn ping_from(ns: &TestNs, src: &str, dst: &str) -> bool {
    ns.exec(&["ping", "-n", "-q", "-c", "1", "-W", "1", "-I", src, dst]).status.success()
}

/// True when a decoded frame names `addr` (a whole address, not a prefix of
/// a longer one: `10.0.0.100` does not match `10.0.0.1001` or `10.0.0.10`).
fn mentions(frame: &str, addr: &str) -> bool {
    frame.split_whitespace().map(|w| w.trim_end_matches([':', ',', ')'])).any(|w| w == addr)
}

/// True when a frame is an echo request from `src` to `dst` (IPv4 or
/// IPv6 as tcpdump prints them).
fn echo_request(frame: &str, src: &str, dst: &str) -> bool {
    (frame.contains(&format!("{src} > {dst}: ICMP echo request"))
        || frame.contains(&format!("{src} > {dst}: ")) && frame.contains("ICMP6, echo request"))
        && !frame.contains("ICMP echo reply")
}

/// True when a frame is an echo reply from `src` to `dst`.
fn echo_reply(frame: &str, src: &str, dst: &str) -> bool {
    frame.contains(&format!("{src} > {dst}: ICMP echo reply"))
        || frame.contains(&format!("{src} > {dst}: ")) && frame.contains("ICMP6, echo reply")
}

/// `ip [-6] -j rule show` with floatip's protocol (70), each rendered as
/// `ip rule` prints it (`PRIO: from SRC iif DEV lookup T
/// [suppress_prefixlength N] proto 70` or `... blackhole proto 70`), sorted.
fn floatip_rules(ns: &TestNs, family: &str) -> Vec<String> {
    let mut rendered: Vec<String> = ns
        .ip_json(&format!("{family} rule show"))
        .iter()
        .filter(|r| r["protocol"] == "70")
        .map(|r| {
            let mut s = format!("{}: from {}", r["priority"], r["src"].as_str().unwrap_or("?"));
            if let Some(len) = r.get("srclen") {
                s.push_str(&format!("/{len}"));
            }
            for (key, word) in [("iif", "iif"), ("oif", "oif"), ("dst", "to"), ("fwmark", "fwmark")] {
                if let Some(v) = r.get(key) {
                    s.push_str(&format!(" {word} {}", v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())));
                }
            }
            match (r.get("table"), r.get("action")) {
                (Some(t), _) => s.push_str(&format!(" lookup {}", t.as_str().unwrap_or("?"))),
                (None, Some(a)) => s.push_str(&format!(" {}", a.as_str().unwrap_or("?"))),
                (None, None) => s.push_str(" ?"),
            }
            if let Some(n) = r.get("suppress_prefixlen") {
                s.push_str(&format!(" suppress_prefixlength {n}"));
            }
            s.push_str(" proto 70");
            s
        })
        .collect();
    rendered.sort();
    rendered
}

/// The lines of `ip [-6] rule` (the text a user reads) with floatip's
/// protocol, whitespace normalized, sorted.
fn floatip_rules_text(ns: &TestNs, family: &str) -> Vec<String> {
    let mut text: Vec<String> = ns
        .ip(&format!("{family} rule show"))
        .lines()
        .filter(|l| l.contains("proto 70"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    text.sort();
    text
}

/// The routes of table `t` (`ip [-6] -j route show table T`) as
/// `DST [via GW] dev DEV proto P [scope S]`, sorted; none when the table
/// has no routes (the kernel answers "FIB table does not exist" for a table
/// that never had one).
fn table_routes(ns: &TestNs, family: &str, t: u32) -> Vec<String> {
    let out = Command::new("ip")
        .args(["-j", "-n", &ns.name])
        .args(family.split_whitespace())
        .args(["route", "show", "table", &t.to_string()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        assert!(stderr.contains("does not exist"), "ip {family} route show table {t}: {stderr}");
        return Vec::new();
    }
    let text = String::from_utf8_lossy(&out.stdout);
    if text.trim().is_empty() {
        return Vec::new();
    }
    let routes: Vec<Value> = serde_json::from_str(&text).unwrap();
    let mut v: Vec<String> = routes
        .iter()
        .map(|r| {
            let mut s = r["dst"].as_str().unwrap_or("?").to_owned();
            if let Some(g) = r.get("gateway") {
                s.push_str(&format!(" via {}", g.as_str().unwrap_or("?")));
            }
            s.push_str(&format!(
                " dev {} proto {}",
                r["dev"].as_str().unwrap_or("?"),
                r["protocol"].as_str().unwrap_or("?")
            ));
            if let Some(sc) = r.get("scope") {
                s.push_str(&format!(" scope {}", sc.as_str().unwrap_or("?")));
            }
            s
        })
        .collect();
    v.sort();
    v
}

/// The rules one pod gets in one family (`docs/guide.md`, "Multi-homed"):
/// its own source to the main table with the default route suppressed, then
/// to the LAN interface's table, then anything else from its veth dropped.
fn pod_rules(ip: &str, hv: &str, table: u32) -> Vec<String> {
    let p = floatip::DEFAULT_RULE_PRIORITY;
    vec![
        format!("{p}: from {ip} iif {hv} lookup main suppress_prefixlength 0 proto 70"),
        format!("{}: from {ip} iif {hv} lookup {table} proto 70", p + 1),
        format!("{}: from all iif {hv} blackhole proto 70", p + 2),
    ]
}

/// Table T of hostA's LAN interface `up0`: the default of
/// `floatip::default_table` (by name, so that it stays when the interface
/// is made again), in floatip's range and never one of the kernel's.
fn default_table() -> u32 {
    let t = floatip::default_table(&floatip::IfName::new("up0").unwrap());
    assert!((floatip::DEFAULT_TABLE_BASE..=floatip::DEFAULT_TABLE_BASE + 0xffff).contains(&t), "table {t}");
    t
}

/// The host's configuration for a before/after comparison: the snapshot of
/// netlab (links, addresses, routes of every table, both families' rules,
/// configured neighbour and proxy entries) without the subnet-router
/// anycast routes the kernel adds while IPv6 forwarding is on
/// (`addrconf_join_anycast()`): forwarding is a shared setting, left on by
/// design after the last pod is gone.
fn host_state(host: &TestNs) -> String {
    host.snapshot().lines().filter(|l| !l.starts_with("anycast ")).map(|l| format!("{l}\n")).collect()
}

/// The multi-homed node of issue 11: hostA's main-table default route
/// leaves by `mgmt0` to a management router, the floating subnet is on
/// `up0`, an overlay-like route on hostA leads into another namespace, and
/// a Service address is DNATed to a second pod on hostA. Pod traffic to
/// what the main table routes specifically stays on those routes; only what
/// would fall to the main default route leaves by `up0` to the LAN gateway.
#[test]
fn multi_homed_host_pod_egress_by_the_floating_uplink() {
    netlab::require_root();
    assert!(netlab::have("iptables"), "iptables is missing: `make test` installs it");
    let v6 = netlab::ipv6_available();
    let lan = Lan::new("mh");
    let mgmt = TestNs::new("mh-mgmt");
    let ovl = TestNs::new("mh-ovl");
    let pod1 = TestNs::new("mh-pod1");
    let pod2 = TestNs::new("mh-pod2");
    let host = &lan.host_a;
    // Each namespace's addresses and routes in one `ip -batch` (the kernel
    // lane runs this under emulation, where each process costs), IPv6
    // lines only with IPv6. (The Lan gives hostA no default route; one
    // there would make the `route add default` fail.)
    let batch = |ns: &TestNs, v4: &[&str], v6_lines: &[&str]| {
        let mut cmds = v4.to_vec();
        if v6 {
            cmds.extend(v6_lines);
        }
        ns.ip_batch(&cmds);
    };
    // The management link, which holds hostA's default routes, and an
    // overlay-like route on hostA into namespace ovl, whose destination
    // routes the floating subnet back through hostA.
    veth_between(host, "mgmt0", &mgmt, "r0");
    veth_between(host, "ovl0", &ovl, "eth0");
    batch(
        host,
        &[
            "addr add 192.168.99.2/24 dev mgmt0",
            "route add default via 192.168.99.1 dev mgmt0",
            "addr add 192.168.78.1/30 dev ovl0",
            "route add 192.168.77.0/24 via 192.168.78.2 dev ovl0",
        ],
        &[
            "addr add fd99::2/64 dev mgmt0 nodad",
            "route add default via fd99::1 dev mgmt0",
            "addr add fd78::1/64 dev ovl0 nodad",
            "route add fd77::/64 via fd78::2 dev ovl0",
        ],
    );
    batch(&mgmt, &["addr add 192.168.99.1/24 dev r0"], &["addr add fd99::1/64 dev r0 nodad"]);
    batch(
        &ovl,
        &[
            "addr add 192.168.78.2/30 dev eth0",
            "addr add 192.168.77.7/32 dev lo",
            "route add 10.0.0.0/23 via 192.168.78.1",
        ],
        &["addr add fd78::2/64 dev eth0 nodad", "addr add fd77::7/128 dev lo", "route add 2001:db8::/64 via fd78::1"],
    );
    // An address behind the gateway, which only the gateway routes.
    batch(&lan.gw, &["addr add 172.16.5.5/32 dev lo"], &["addr add 2001:db8:5::5/128 dev lo"]);
    sysctl_set(&lan.gw, "net.ipv4.ip_forward", "1");
    if v6 {
        sysctl_set(&lan.gw, "net.ipv6.conf.all.forwarding", "1");
    }
    // A Service: 10.96.0.10 (fd96::10) DNATed to pod2.
    for (tool, svc, backend) in [("iptables", "10.96.0.10", "10.0.0.101"), ("ip6tables", "fd96::10", "2001:db8::101")] {
        if tool == "ip6tables" && !v6 {
            continue;
        }
        let out =
            host.exec(&[tool, "-t", "nat", "-A", "PREROUTING", "-d", svc, "-j", "DNAT", "--to-destination", backend]);
        assert!(out.status.success(), "{tool}: {}", String::from_utf8_lossy(&out.stderr));
    }
    // Without policy routing a pod's packet to 172.16.5.5 follows the main
    // default route, by mgmt0: the problem issue 11 reports.
    assert_eq!(host.ip_json("route get 172.16.5.5")[0]["dev"], "mgmt0", "the host's default route is by mgmt0");
    let before = host_state(host);

    let f1 = spec(host, &pod1, "default/mh-pod1", "10.0.0.100/23", v6.then_some("2001:db8::100/64")).build().unwrap();
    let f2 = spec(host, &pod2, "default/mh-pod2", "10.0.0.101/23", v6.then_some("2001:db8::101/64")).build().unwrap();
    f1.attach().unwrap();
    f2.attach().unwrap();
    for f in [&f1, &f2] {
        assert!(f.check().unwrap().is_empty(), "{}: {:?}", f.attachment_id(), f.check().unwrap());
    }
    let (hv1, hv2) = (f1.host_ifname().to_string(), f2.host_ifname().to_string());

    // The rules and table T, as ip prints them.
    let t = default_table();
    let mut families = vec![("-4", "10.0.0.100", "10.0.0.101")];
    if v6 {
        families.push(("-6", "2001:db8::100", "2001:db8::101"));
    }
    for (fam, ip1, ip2) in &families {
        let mut want = [pod_rules(ip1, &hv1, t), pod_rules(ip2, &hv2, t)].concat();
        want.sort();
        assert_eq!(floatip_rules(host, fam), want, "ip {fam} rule");
        assert_eq!(floatip_rules_text(host, fam), want, "ip {fam} rule, as text");
    }
    assert_eq!(
        table_routes(host, "-4", t),
        ["10.0.0.0/23 dev up0 proto 70 scope link", "default via 10.0.0.1 dev up0 proto 70"]
    );
    let text: Vec<String> = host.ip(&format!("route show table {t}")).lines().map(|l| l.trim().to_owned()).collect();
    assert_eq!(text, ["default via 10.0.0.1 dev up0 proto 70", "10.0.0.0/23 dev up0 proto 70 scope link"]);
    if v6 {
        assert_eq!(
            table_routes(host, "-6", t),
            ["2001:db8::/64 dev up0 proto 70", "default via 2001:db8::1 dev up0 proto 70"]
        );
    }
    // The kernel's answer for a packet of pod1's, as in the issue's
    // `ip route get 172.16.5.5 from 10.0.0.103 iif <host veth>`: what the
    // main table routes specifically stays there, the rest goes by up0.
    let mut gets = vec![
        ("172.16.5.5", "10.0.0.100", Some("10.0.0.1"), "up0"),
        ("192.168.77.7", "10.0.0.100", Some("192.168.78.2"), "ovl0"),
        ("10.0.0.101", "10.0.0.100", None, hv2.as_str()),
        ("10.0.0.7", "10.0.0.100", None, "up0"),
    ];
    if v6 {
        gets.extend([
            ("2001:db8:5::5", "2001:db8::100", Some("2001:db8::1"), "up0"),
            ("fd77::7", "2001:db8::100", Some("fd78::2"), "ovl0"),
            ("2001:db8::101", "2001:db8::100", None, hv2.as_str()),
            ("2001:db8::7", "2001:db8::100", None, "up0"),
        ]);
    }
    let cmds: Vec<String> = gets.iter().map(|(dst, src, ..)| format!("route get {dst} from {src} iif {hv1}")).collect();
    let answers = json_batch(host, &cmds);
    assert_eq!(answers.len(), gets.len(), "{answers:?}");
    for ((dst, src, via, dev), a) in gets.iter().zip(&answers) {
        let r = &a[0];
        assert_eq!((r["gateway"].as_str(), r["dev"].as_str()), (*via, Some(*dev)), "route get {dst} from {src}: {r}");
    }

    // What the mgmt link carries, and what hostA sends to the LAN about
    // the address behind the gateway, while the pod talks.
    let on_mgmt = Capture::start(&mgmt, "r0", "");
    let behind = "(icmp or icmp6) and (host 172.16.5.5 or host 2001:db8:5::5)";
    let on_lan = Capture::start(&lan.switch, "p-a", behind);
    let mut targets = vec![
        ("10.0.0.1", "the gateway"),
        ("10.0.0.7", "a LAN peer"),
        ("172.16.5.5", "an address behind the gateway"),
        ("192.168.77.7", "the overlay-like destination (main table)"),
        ("10.0.0.101", "the second pod on the same host"),
        ("10.96.0.10", "a Service DNATed to the second pod"),
        ("192.168.99.2", "the host's own management address"),
    ];
    if v6 {
        targets.extend([
            ("2001:db8::1", "the gateway over IPv6"),
            ("2001:db8::7", "a LAN peer over IPv6"),
            ("2001:db8:5::5", "an address behind the gateway over IPv6"),
            ("fd77::7", "the overlay-like destination over IPv6"),
            ("2001:db8::101", "the second pod over IPv6"),
            ("fd96::10", "a Service DNATed to the second pod over IPv6"),
            ("fd99::2", "the host's own management address over IPv6"),
        ]);
    }
    let dsts: Vec<&str> = targets.iter().map(|(d, _)| *d).collect();
    let failed = unreachable(&pod1, &dsts);
    let failed: Vec<String> = targets
        .iter()
        .filter(|(d, _)| failed.iter().any(|f| f == d))
        .map(|(d, what)| format!("pod1 -> {d}: {what}"))
        .collect();
    assert!(failed.is_empty(), "no reply: {failed:#?}");
    let peer_to_pod: &[&str] = if v6 { &["10.0.0.100", "2001:db8::100"] } else { &["10.0.0.100"] };
    assert_eq!(unreachable(&lan.peer, peer_to_pod), Vec::<String>::new(), "the LAN peer -> pod1");
    assert_eq!(lan.peer.neigh_mac("10.0.0.100").as_deref(), Some(HOST_A_MAC));

    // The packets to the address behind the gateway left hostA by up0 for
    // the gateway's MAC, forwarded (one hop less), and came back that way.
    let seen = |l: &[String], src: &str, dst: &str| frames(l).iter().any(|f| echo_request(f, src, dst));
    let lan_frames =
        frames(&on_lan.decode_when(|l| {
            seen(l, "10.0.0.100", "172.16.5.5") && (!v6 || seen(l, "2001:db8::100", "2001:db8:5::5"))
        }));
    let mut pairs = vec![("10.0.0.100", "172.16.5.5", "ttl 63")];
    if v6 {
        pairs.push(("2001:db8::100", "2001:db8:5::5", "hlim 63"));
    }
    for (pod_ip, far, hop) in pairs {
        // tcpdump -e: "SRC-MAC > DST-MAC, ethertype ...".
        let out = format!("{HOST_A_MAC} > {GW_MAC},");
        let back = format!("{GW_MAC} > {HOST_A_MAC},");
        assert!(
            lan_frames.iter().any(|f| f.contains(&out) && echo_request(f, pod_ip, far) && f.contains(hop)),
            "no echo request {pod_ip} > {far} from hostA's up0 to the gateway: {lan_frames:#?}"
        );
        assert!(
            lan_frames.iter().any(|f| f.contains(&back) && echo_reply(f, far, pod_ip)),
            "no echo reply {far} > {pod_ip} from the gateway to hostA: {lan_frames:#?}"
        );
    }
    // Nothing of the pods' on the management link. The host's own ping to
    // the management router, sent last, marks that tcpdump has read
    // everything before it.
    assert!(host.ping("192.168.99.1"), "hostA -> mgmt router");
    let mgmt_frames =
        frames(&on_mgmt.decode_when(|l| frames(l).iter().any(|f| echo_request(f, "192.168.99.2", "192.168.99.1"))));
    assert!(mgmt_frames.iter().any(|f| echo_request(f, "192.168.99.2", "192.168.99.1")), "{mgmt_frames:#?}");
    for ip in ["10.0.0.100", "10.0.0.101", "2001:db8::100", "2001:db8::101"] {
        let leak: Vec<&String> = mgmt_frames.iter().filter(|f| mentions(f, ip)).collect();
        assert!(leak.is_empty(), "pod traffic on the management link ({ip}): {leak:#?}");
    }
    // The DNAT rules did the Service work (their counters moved).
    for tool in ["iptables", "ip6tables"].into_iter().filter(|t| v6 || *t == "iptables") {
        let out = host.exec(&[tool, "-t", "nat", "-L", "PREROUTING", "-v", "-n", "-x"]);
        let s = String::from_utf8_lossy(&out.stdout);
        let line = s.lines().find(|l| l.contains("DNAT")).unwrap_or_else(|| panic!("{tool}: {s}"));
        let packets: u64 = line.split_whitespace().next().unwrap().parse().unwrap();
        assert!(packets >= 1, "{tool}: the Service DNAT never matched: {s}");
    }

    // Detach pod1: its rules go, pod2's and table T stay and serve pod2.
    f1.detach().unwrap();
    for (fam, _, ip2) in &families {
        assert_eq!(floatip_rules(host, fam), pod_rules(ip2, &hv2, t), "ip {fam} rule after pod1's detach");
        assert_eq!(table_routes(host, fam, t).len(), 2, "table {t} ({fam}) serves pod2 still");
    }
    assert!(f2.check().unwrap().is_empty(), "{:?}", f2.check().unwrap());
    let pod2_to: &[&str] = if v6 { &["172.16.5.5", "2001:db8:5::5"] } else { &["172.16.5.5"] };
    assert_eq!(unreachable(&pod2, pod2_to), Vec::<String>::new(), "pod2 -> behind the gateway, after pod1's detach");
    assert!(lan.peer.ping("10.0.0.101"), "the LAN peer -> pod2");
    // Detach pod2, the last pod on up0: no rule, no route in table T, and
    // the host as it was (the shared sysctls stay on by design).
    f2.detach().unwrap();
    for (fam, ..) in &families {
        assert_eq!(floatip_rules(host, fam), Vec::<String>::new(), "ip {fam} rule after both detaches");
        assert_eq!(table_routes(host, fam, t), Vec::<String>::new(), "table {t} ({fam}) after both detaches");
    }
    assert_eq!(host_state(host), before, "hostA after both detaches");
    assert_eq!(host.sysctl("net.ipv4.ip_forward"), "1", "shared settings stay");
}

/// `ip -j -n NS -batch -` with `cmds`: one parsed JSON value per command
/// (iproute2 prints them one after the other).
fn json_batch(ns: &TestNs, cmds: &[String]) -> Vec<Value> {
    use std::io::Write;
    let mut child = Command::new("ip")
        .args(["-j", "-n", &ns.name, "-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all((cmds.join("\n") + "\n").as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "ip -batch {cmds:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::Deserializer::from_slice(&out.stdout).into_iter::<Value>().map(Result::unwrap).collect()
}

/// The pod cannot send from an address that is not its floating IP: the
/// host drops it at the pod's veth, and it never reaches the LAN; the pod's
/// own address still works.
#[test]
fn a_pod_cannot_spoof_its_source() {
    netlab::require_root();
    let v6 = netlab::ipv6_available();
    let lan = Lan::new("spoof");
    let pod = TestNs::new("spoof-pod");
    let f =
        spec(&lan.host_a, &pod, "default/spoof", "10.0.0.120/23", v6.then_some("2001:db8::120/64")).build().unwrap();
    f.attach().unwrap();
    assert!(f.check().unwrap().is_empty(), "{:?}", f.check().unwrap());
    let hv = f.host_ifname().to_string();
    // The pod's own addresses work (and teach the pod its next hop).
    assert!(ping_from(&pod, "10.0.0.120", "10.0.0.7"), "pod -> peer from its floating IP");
    assert!(!v6 || ping_from(&pod, "2001:db8::120", "2001:db8::7"), "pod -> peer over IPv6");

    // A pod with CAP_NET_ADMIN adds addresses that are not its own.
    pod.ip("addr add 10.0.0.222/32 dev eth0");
    let mut spoofed = vec![("10.0.0.222", "10.0.0.7", "10.0.0.120")];
    if v6 {
        pod.ip("-6 addr add 2001:db8::222/128 dev eth0 nodad");
        spoofed.push(("2001:db8::222", "2001:db8::7", "2001:db8::120"));
    }
    // The kernel refuses to route them (`ip route get` as a forwarded
    // packet from the pod's veth).
    for (fake, dst, own) in &spoofed {
        let ok = lan.host_a.ip_raw(&format!("route get {dst} from {own} iif {hv}"));
        assert!(ok.status.success(), "route get {dst} from {own}: {}", String::from_utf8_lossy(&ok.stderr));
        let bad = lan.host_a.ip_raw(&format!("route get {dst} from {fake} iif {hv}"));
        assert!(!bad.status.success(), "route get {dst} from {fake}: {}", String::from_utf8_lossy(&bad.stdout));
    }
    let on_veth = Capture::start(&lan.host_a, &hv, "icmp or icmp6");
    let on_lan = Capture::start(&lan.switch, "p-a", "");
    for (fake, dst, _) in &spoofed {
        assert!(!ping_from(&pod, fake, dst), "a reply came to the spoofed source {fake}");
    }
    // Then the pod's own address again, which marks the end of the captures.
    for (_, dst, own) in &spoofed {
        assert!(ping_from(&pod, own, dst), "pod -> {dst} from {own} after the spoofing attempt");
    }
    let veth_frames = frames(&on_veth.decode_when(|l| {
        let fr = frames(l);
        spoofed.iter().all(|(fake, dst, own)| {
            fr.iter().any(|f| echo_request(f, fake, dst)) && fr.iter().any(|f| echo_reply(f, dst, own))
        })
    }));
    for (fake, dst, _) in &spoofed {
        assert!(
            veth_frames.iter().any(|f| echo_request(f, fake, dst)),
            "the pod never sent from {fake} (nothing to drop): {veth_frames:#?}"
        );
    }
    let lan_frames = frames(&on_lan.decode_when(|l| {
        let fr = frames(l);
        spoofed.iter().all(|(_, dst, own)| fr.iter().any(|f| echo_reply(f, dst, own)))
    }));
    for (fake, dst, own) in &spoofed {
        assert!(
            lan_frames.iter().any(|f| echo_request(f, own, dst)),
            "the pod's own {own} > {dst} is not on the LAN: {lan_frames:#?}"
        );
        let leak: Vec<&String> = lan_frames.iter().filter(|f| mentions(f, fake)).collect();
        assert!(leak.is_empty(), "the spoofed source {fake} reached the LAN: {leak:#?}");
    }
    assert!(lan.peer.neigh_mac("10.0.0.222").is_none(), "the peer heard of 10.0.0.222");
    f.detach().unwrap();
}

/// A host whose uplink has an IPv4 address of another subnet only (the
/// case of a VLAN device or a re-addressed uplink): forwarding a pod's
/// packet to the gateway, the kernel would ARP for it with that other
/// subnet's sender address (`inet_select_addr()`), which gateways may drop.
/// A routed IPv4 attach refuses that before any change; with
/// `lan_address` it adds an address of the floating subnet, the host's ARP
/// for the gateway says `tell` that address, and detach leaves it (other
/// pods share it).
#[test]
fn an_uplink_without_an_address_in_the_floating_subnet() {
    netlab::require_root();
    let lan = Lan::new("noaddr");
    let host = &lan.host_a;
    let pod = TestNs::new("noaddr-pod");
    host.ip("addr del 10.0.0.2/23 dev up0");
    host.ip("addr add 192.168.50.2/24 dev up0");
    lan.gw.ip("addr add 172.16.5.5/32 dev lo");

    let before = host.snapshot() + &pod.snapshot();
    let e = spec(host, &pod, "default/noaddr", "10.0.0.130/23", None).build().unwrap().attach().unwrap_err();
    assert_eq!(e.kind(), floatip::ErrorKind::InvalidInput, "{e}");
    assert!(e.to_string().contains("up0") && e.to_string().contains("lan_address"), "{e}");
    assert_eq!(host.snapshot() + &pod.snapshot(), before, "a refused attach changed the node");

    // A LAN address that would not help (another subnet, the gateway's
    // own, the pod's, no prefix length) is refused when the spec is built.
    for bad in ["10.0.2.4/23", "10.0.0.1/23", "10.0.0.130/23", "10.0.0.4/32", "10.0.0.4"] {
        let e = spec(host, &pod, "default/noaddr", "10.0.0.130/23", None).lan_address(bad).build().unwrap_err();
        assert_eq!(e.kind(), floatip::ErrorKind::InvalidInput, "lan_address {bad}: {e}");
    }
    let f = spec(host, &pod, "default/noaddr", "10.0.0.130/23", None).lan_address("10.0.0.4/23").build().unwrap();
    let done = f.attach().unwrap();
    assert!(done.changes.iter().any(|c| c == "ip addr add 10.0.0.4/23 dev up0"), "{done}");
    assert!(f.check().unwrap().is_empty(), "{:?}", f.check().unwrap());
    let on_lan = Capture::start(&lan.switch, "p-a", "arp");
    assert!(pod.ping("172.16.5.5"), "pod -> an address behind the gateway");
    assert!(lan.peer.ping("10.0.0.130"), "the LAN peer -> pod");
    let who_has_gw = |f: &String| f.contains("Request who-has 10.0.0.1 tell");
    let arps = frames(&on_lan.decode_when(|l| frames(l).iter().any(who_has_gw)));
    let from_host: Vec<&String> = arps.iter().filter(|f| f.contains(&format!("{HOST_A_MAC} > "))).collect();
    assert!(
        from_host.iter().any(|f| f.contains("Request who-has 10.0.0.1 tell 10.0.0.4,")),
        "hostA did not ARP for the gateway from its address in the floating subnet: {arps:#?}"
    );
    let wrong: Vec<&&String> = from_host.iter().filter(|f| mentions(f, "192.168.50.2")).collect();
    assert!(wrong.is_empty(), "hostA ARPed from another subnet: {wrong:#?}");

    f.detach().unwrap();
    let addrs = &host.ip_json("-4 addr show dev up0")[0]["addr_info"];
    let mut have: Vec<String> = addrs
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| Some(format!("{}/{}", a["local"].as_str()?, a["prefixlen"])))
        .collect();
    have.sort();
    assert_eq!(have, ["10.0.0.4/23", "192.168.50.2/24"], "the LAN address is shared: detach leaves it");
    // A second attach finds the address and adds nothing.
    let again = f.attach().unwrap();
    assert!(again.changes.iter().all(|c| !c.contains("ip addr add")), "{again}");
    f.detach().unwrap();
}

/// `radvd` run by a test in one of its namespaces, with its own config and
/// pid file in a directory of its own; stopped (SIGTERM, by the pid this
/// test started) and its directory removed on drop, also while unwinding.
struct Radvd {
    child: Option<Child>,
    dir: PathBuf,
}

impl Radvd {
    /// Starts radvd in `ns` advertising a default route on `iface` (no
    /// prefix: nothing to autoconfigure), every 3-4 s, lifetime 1800 s.
    fn start(ns: &TestNs, iface: &str) -> Radvd {
        use std::os::unix::fs::PermissionsExt;
        assert!(netlab::have("radvd"), "radvd is missing: `make test` installs it (tests/scripts/install-deps.sh)");
        let dir = std::env::temp_dir().join(format!("{}-radvd", ns.name));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let conf = dir.join("radvd.conf");
        std::fs::write(
            &conf,
            format!(
                "interface {iface} {{\n    AdvSendAdvert on;\n    MinRtrAdvInterval 3;\n    MaxRtrAdvInterval 4;\n    \
                 AdvDefaultLifetime 1800;\n}};\n"
            ),
        )
        .unwrap();
        std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o644)).unwrap();
        let pidfile = dir.join("radvd.pid");
        let log = std::fs::File::create(dir.join("radvd.log")).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &ns.name, "radvd", "--nodaemon", "--logmethod", "stderr", "--debug", "1"])
            .arg("--config")
            .arg(&conf)
            .arg("--pidfile")
            .arg(&pidfile)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("run radvd");
        let mut r = Radvd { child: Some(child), dir };
        // Running once it wrote its pid file; a radvd that exits (a bad
        // config) is a failure with its log.
        let t = Instant::now();
        while !pidfile.exists() {
            if let Some(status) = r.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("radvd in {} exited ({status}): {}", ns.name, r.log());
            }
            assert!(t.elapsed() < Duration::from_secs(10), "radvd wrote no pid file: {}", r.log());
            std::thread::sleep(Duration::from_millis(20));
        }
        r
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("radvd.log")).unwrap_or_default()
    }
}

impl Drop for Radvd {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // `ip netns exec` execs radvd: the child's pid is radvd's.
            // SAFETY: signalling the child this test started, not yet reaped.
            #[allow(unsafe_code)]
            unsafe {
                libc::kill(child.id() as i32, libc::SIGTERM);
            }
            let t = Instant::now();
            while child.try_wait().ok().flatten().is_none() {
                if t.elapsed() > Duration::from_secs(5) {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The routers `ns` has an RA-learned default route through on `dev`
/// (`ip -6 route show default proto ra`), sorted.
fn ra_routers(ns: &TestNs, dev: &str) -> Vec<String> {
    let mut v: Vec<String> = ns
        .ip_json("-6 route show default proto ra")
        .iter()
        .flat_map(|r| {
            // One route per router, or one multipath route.
            let hops: Vec<Value> = match r.get("nexthops").and_then(Value::as_array) {
                Some(h) => h.clone(),
                None => vec![r.clone()],
            };
            hops.into_iter()
                .filter(|h| h["dev"] == dev)
                .filter_map(|h| h["gateway"].as_str().map(str::to_owned))
                .collect::<Vec<_>>()
        })
        .collect();
    v.sort();
    v
}

/// Polls `ra_routers` until `want` holds, at most 15 s (RAs come every 3-4
/// s); returns what it saw last.
fn wait_ra_routers(ns: &TestNs, want: impl Fn(&[String]) -> bool) -> Vec<String> {
    let t = Instant::now();
    loop {
        let seen = ra_routers(ns, "up0");
        if want(&seen) || t.elapsed() > Duration::from_secs(15) {
            return seen;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The link-local address of `ns`'s `dev`.
fn link_local(ns: &TestNs, dev: &str) -> String {
    let a = ns.ip_json(&format!("-6 addr show dev {dev} scope link"));
    // (iproute2 6.1 prints an empty object for each address the scope
    // filter left out.)
    a[0]["addr_info"]
        .as_array()
        .and_then(|v| v.iter().find_map(|x| x["local"].as_str()))
        .unwrap_or_else(|| panic!("{dev} has no link-local address: {a:?}"))
        .to_owned()
}

/// The node learns its own IPv6 default route from the LAN's router
/// advertisements (`accept_ra=1`, forwarding off). An IPv6 attach turns
/// forwarding on, which with `accept_ra=1` makes the kernel purge the
/// RA-learned default routes and ignore later RAs
/// (`addrconf_fixup_forwarding`); floatip sets `accept_ra=2` first, so the
/// route stays and the node keeps learning.
#[test]
fn ipv6_attach_keeps_the_nodes_router_advertisements() {
    netlab::require_root();
    if !netlab::ipv6_available() {
        eprintln!("ipv6_attach_keeps_the_nodes_router_advertisements: no IPv6 in this kernel: nothing to test");
        return;
    }
    let lan = Lan::new("ra");
    let host = &lan.host_a;
    let pod = TestNs::new("ra-pod");
    sysctl_set(host, "net.ipv6.conf.up0.accept_ra", "1");
    assert_eq!(
        host.sysctls(&["net.ipv6.conf.all.forwarding", "net.ipv6.conf.up0.forwarding"]),
        "net.ipv6.conf.all.forwarding=0\nnet.ipv6.conf.up0.forwarding=0\n"
    );
    // radvd wants a router: forwarding on in the LAN members that run it.
    sysctl_set(&lan.gw, "net.ipv6.conf.all.forwarding", "1");
    sysctl_set(&lan.peer, "net.ipv6.conf.all.forwarding", "1");
    let (gw_ll, peer_ll) = (link_local(&lan.gw, "lan0"), link_local(&lan.peer, "lan0"));

    let gw_radvd = Radvd::start(&lan.gw, "lan0");
    let seen = wait_ra_routers(host, |r| r.contains(&gw_ll));
    assert_eq!(
        seen,
        std::slice::from_ref(&gw_ll),
        "hostA learned no RA default route via the gateway: {}",
        gw_radvd.log()
    );

    let f = FloatingIp::builder("default/ra", "up0")
        .host_netns(NetnsRef::Name(host.name.clone()))
        .pod_netns_name(pod.name.clone())
        .ipv6("2001:db8::150/64", "2001:db8::1")
        .build()
        .unwrap();
    f.attach().unwrap();
    // Right after the attach (the purge would have been synchronous with
    // the forwarding write): the RA default route is still there.
    assert_eq!(ra_routers(host, "up0"), std::slice::from_ref(&gw_ll), "the RA default route via the gateway is gone");
    assert_eq!(host.sysctl("net.ipv6.conf.all.forwarding"), "1");
    assert_eq!(host.sysctl("net.ipv6.conf.up0.accept_ra"), "2", "RAs still accepted while forwarding");
    assert!(f.check().unwrap().is_empty(), "{:?}", f.check().unwrap());
    assert!(lan.peer.ping("2001:db8::150") && pod.ping("2001:db8::1"), "the pod works");

    // And it still learns: a second router appears on the LAN.
    let peer_radvd = Radvd::start(&lan.peer, "lan0");
    let mut want = vec![gw_ll.clone(), peer_ll.clone()];
    want.sort();
    let seen = wait_ra_routers(host, |r| r.contains(&peer_ll));
    assert_eq!(seen, want, "no RA default route via the new router after the attach: {}", peer_radvd.log());
    assert!(host.ping("2001:db8::7"), "hostA's own IPv6 still works");

    f.detach().unwrap();
    assert_eq!(ra_routers(host, "up0"), want, "detach leaves the RA routes");
    drop(peer_radvd);
    drop(gw_radvd);
}
