"""FloatingIp on the simulated LAN: attach, ping from the peer, check,
detach, move to another node with an announcement."""

from __future__ import annotations

import ipaddress
import struct

import floatip
from netlab import HOST_A_MAC, HOST_B_MAC, Lab, TestNs, wait_until


def spec(host: TestNs, pod: TestNs, key: str, ip: str, **kw: object) -> floatip.FloatingIp:
    return floatip.FloatingIp(
        key, "up0", host_netns=host.ns, pod_netns_name=pod.name, ipv4=(ip, "10.0.0.1"), **kw  # type: ignore[arg-type]
    )


def test_routed_mode_on_a_lan(lab: Lab) -> None:
    lan = lab.lan("e2e")
    pod1, pod2 = lab.ns("e2e-pod1"), lab.ns("e2e-pod2")
    f1 = floatip.FloatingIp(
        "default/pod1",
        "up0",
        host_netns=lan.host_a.name,
        pod_netns_path=f"/run/netns/{pod1.name}",
        ipv4=(ipaddress.IPv4Interface("10.0.0.100/23"), ipaddress.IPv4Address("10.0.0.1")),
    )
    f2 = spec(lan.host_b, pod2, "default/pod2", "10.0.0.200/23")
    a1 = f1.attach()
    f2.attach()
    assert a1.changes and a1.uplink_mac == HOST_A_MAC
    assert a1.announced and "10.0.0.100" in a1.announced[0]
    assert f1.ipv4 == (ipaddress.IPv4Interface("10.0.0.100/23"), ipaddress.IPv4Address("10.0.0.1"))
    assert f1.host_ifname == floatip.FloatingIp.default_host_ifname("default/pod1")

    # The state, read by iproute2.
    hv = f1.host_ifname
    r = next(r for r in lan.host_a.ip_json("route", "show") if r["dst"] == "10.0.0.100")
    assert (r["dev"], r["scope"]) == (hv, "link")
    assert [e["dst"] for e in lan.host_a.ip_json("neigh", "show", "proxy", "dev", "up0")] == ["10.0.0.100"]
    assert lan.host_a.sysctl(f"net.ipv4.conf.{hv}.proxy_arp") == "1"
    assert lan.host_a.sysctl(f"net.ipv4.neigh.{hv}.proxy_delay") == "0"
    assert lan.host_a.sysctl("net.ipv4.ip_forward") == "1"
    eth0 = pod1.ip_json("addr", "show", "dev", "eth0")[0]
    assert any(a["local"] == "10.0.0.100" and a["prefixlen"] == 23 for a in eth0["addr_info"])
    assert next(r for r in pod1.ip_json("route", "show") if r["dst"] == "default")["gateway"] == "10.0.0.1"
    assert "master" not in lan.host_a.ip_json("link", "show", "dev", hv)[0], "no bridge on the host"
    assert f1.check() == []

    # The LAN reaches the pods; the pods reach the LAN and each other.
    assert lan.peer.ping("10.0.0.100"), "peer -> pod1"
    assert pod1.ping("10.0.0.1"), "pod1 -> gateway"
    assert pod1.ping("10.0.0.200"), "pod1 -> pod2 on hostB"
    assert lan.peer.neigh_mac("10.0.0.100") == HOST_A_MAC
    assert lan.peer.ping("10.0.0.200") and lan.peer.neigh_mac("10.0.0.200") == HOST_B_MAC

    # Idempotent.
    before = lan.host_a.ip("route", "show") + pod1.ip("addr", "show")
    assert f1.attach().changes == ()
    assert lan.host_a.ip("route", "show") + pod1.ip("addr", "show") == before

    # Drift is reported, and attach repairs it.
    with lan.host_a.handle() as h:
        h.route_del(floatip.Route("10.0.0.100/32", oif=h.link_get(hv).index))
    drift = f1.check()
    assert [d.place for d in drift] == ["host"] and "10.0.0.100/32" in drift[0].expected
    assert "expected" in str(drift[0])
    assert any("route add 10.0.0.100/32" in c for c in f1.attach().changes)
    assert f1.check() == []

    # Detach removes what attach made; again is fine.
    removed = f1.detach()
    assert any("ip link del" in r for r in removed)
    assert not [r for r in lan.host_a.ip_json("route", "show") if r["dst"] == "10.0.0.100"]
    assert lan.host_a.ip_json("neigh", "show", "proxy") == []
    assert pod1.link_names() == ["lo"]
    assert lan.host_a.sysctl("net.ipv4.ip_forward") == "1", "shared settings stay"
    assert f1.detach() == []
    f2.detach()


def test_create_pod_netns_and_dual_stack(lab: Lab) -> None:
    lan = lab.lan("ds")
    name = lab.name("ds-pod")
    f = floatip.FloatingIp(
        "default/ds",
        "up0",
        host_netns=lan.host_a.ns,
        create_pod_netns=name,
        ipv4=("10.0.0.110/23", "10.0.0.1"),
        ipv6=(ipaddress.IPv6Interface("2001:db8::110/64"), "fe80::1"),
        pod_mac="02:00:00:00:99:01",
        mtu=1400,
    )
    assert f.creates_pod_netns and f.pod_netns_name == name and f.pod_netns_path is None
    a = f.attach()
    assert name in floatip.Netns.list()
    assert any(c.startswith("ip netns add") for c in a.changes)
    pod = floatip.Handle(name)
    eth0 = pod.link_get("eth0")
    assert eth0.mac == "02:00:00:00:99:01" and eth0.mtu == 1400
    assert ipaddress.ip_interface("2001:db8::110/64") in {x.address for x in pod.addrs("eth0")}
    pod.close()
    assert f.check() == []
    assert lan.peer.ping("10.0.0.110")
    assert lan.peer.ping("2001:db8::110", wait=2)
    removed = f.detach()
    assert f"ip netns del {name}" in removed
    assert name not in floatip.Netns.list()


def test_bridge_mode(lab: Lab) -> None:
    lan = lab.lan("br")
    pod = lab.ns("br-pod")
    # Bridge mode: hostA's uplink in a bridge that the pod's veth joins.
    with lan.host_a.handle() as h:
        h.bridge_add("br0")
        h.link_set_master("up0", "br0")
        h.link_set_up("br0")
    f = floatip.FloatingIp(
        "default/br", "up0", host_netns=lan.host_a.ns, pod_netns_name=pod.name, ipv4=("10.0.0.120/23", "10.0.0.1"),
        bridge="br0",
    )
    assert f.bridge == "br0" and f.announce is None, "bridge mode does not announce by default"
    f.attach()
    hv = lan.host_a.ip_json("link", "show", "dev", f.host_ifname)[0]
    assert hv["master"] == "br0"
    assert not [r for r in lan.host_a.ip_json("route", "show") if r["dst"] == "10.0.0.120"]
    assert lan.peer.ping("10.0.0.120")
    pod_mac = pod.ip_json("link", "show", "eth0")[0]["address"]
    assert lan.peer.neigh_mac("10.0.0.120") == pod_mac, "the LAN sees the pod's own MAC"
    assert f.check() == []
    f.detach()


def test_move_with_announcement(lab: Lab) -> None:
    """The mission: the pod moves from hostA to hostB after hostA's uplink
    goes down; one announcement later the peer's ARP entry names hostB and
    traffic flows, without waiting for ARP aging."""
    lan = lab.lan("move")
    # locktime 10 s: only frames Linux treats as gratuitous may replace the
    # peer's entry within it.
    lan.peer.exec("sh", "-c", "echo 1000 > /proc/sys/net/ipv4/neigh/lan0/locktime", check=True)
    pod_a, pod_b = lab.ns("move-a"), lab.ns("move-b")
    on_a = spec(lan.host_a, pod_a, "default/moving", "10.0.0.180/23")
    a = on_a.attach()
    assert lan.peer.ping("10.0.0.180")
    assert lan.peer.neigh_mac("10.0.0.180") == HOST_A_MAC
    if a.announcement is not None:
        a.announcement.stop()
    on_a.detach()
    lan.host_a.ip("link", "set", "up0", "down")

    # On hostB, first without announcing: the negative control.
    on_b = spec(lan.host_b, pod_b, "default/moving", "10.0.0.180/23", announce=False)
    assert on_b.announce is None
    b = on_b.attach()
    assert b.announced == () and b.announcement is None
    assert not lan.peer.ping("10.0.0.180"), "without an announcement the peer's traffic is lost"
    assert lan.peer.neigh_mac("10.0.0.180") == HOST_A_MAC

    # One announcement round from hostB's uplink.
    sender = floatip.Announcer(lan.host_b.ns, "up0")
    assert sender.mac == HOST_B_MAC
    report = sender.announce(["10.0.0.180"], floatip.AnnounceOptions(count=1))
    assert (report.rounds, report.frames) == (1, 2), "a request and a reply"
    took = wait_until(lambda: lan.peer.neigh_mac("10.0.0.180") == HOST_B_MAC, 1.0)
    assert took is not None, f"entry still {lan.peer.neigh_mac('10.0.0.180')}"
    assert lan.peer.ping("10.0.0.180"), "traffic flows to hostB at once"


def test_send_raw_frame(lab: Lab) -> None:
    """A gratuitous ARP request built by hand in Python and sent as it is."""
    lan = lab.lan("raw")
    pod = lab.ns("raw-pod")
    spec(lan.host_a, pod, "default/raw", "10.0.0.190/23", announce=False).attach()
    assert lan.peer.ping("10.0.0.190") and lan.peer.neigh_mac("10.0.0.190") == HOST_A_MAC
    mac = bytes.fromhex(HOST_B_MAC.replace(":", ""))
    ip = ipaddress.IPv4Address("10.0.0.190").packed
    eth = b"\xff" * 6 + mac + struct.pack("!H", 0x0806)
    arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + mac + ip + b"\0" * 6 + ip
    frame = (eth + arp).ljust(60, b"\0")
    sent = floatip.Announcer(lan.host_b.ns, "up0").send_raw([frame])
    assert sent == 1
    assert wait_until(lambda: lan.peer.neigh_mac("10.0.0.190") == HOST_B_MAC, 1.0) is not None


def test_attach_announces_by_default(lab: Lab) -> None:
    lan = lab.lan("auto")
    pod_a, pod_b = lab.ns("auto-a"), lab.ns("auto-b")
    fa = spec(lan.host_a, pod_a, "default/auto", "10.0.0.185/23")
    fa.attach()
    assert lan.peer.ping("10.0.0.185") and lan.peer.neigh_mac("10.0.0.185") == HOST_A_MAC
    fa.detach()
    lan.host_a.ip("link", "set", "up0", "down")
    fb = spec(lan.host_b, pod_b, "default/auto", "10.0.0.185/23", announce=floatip.AnnounceOptions(count=3, interval=0.2))
    assert fb.announce == floatip.AnnounceOptions(count=3, interval=0.2)
    b = fb.attach()
    assert wait_until(lambda: lan.peer.neigh_mac("10.0.0.185") == HOST_B_MAC, 1.0) is not None
    assert lan.peer.ping("10.0.0.185")
    assert b.announcement is not None
    report = b.announcement.wait()
    assert report.rounds == 3 and report.frames == 6
    assert b.announcement.finished
    fb.detach()


def test_conflict_probe_refuses_an_ip_another_node_holds(lab: Lab) -> None:
    lan = lab.lan("probe")
    old, new = lab.ns("probe-old"), lab.ns("probe-new")
    # The old node still holds the IP (its proxy entry answers for it).
    zombie = spec(lan.host_b, old, "default/old", "10.0.0.186/23", announce=False)
    zombie.attach()
    f = spec(lan.host_a, new, "default/new", "10.0.0.186/23", conflict_probe=True)
    assert f.conflict_probe == floatip.ProbeOptions()
    assert spec(lan.host_a, new, "default/new", "10.0.0.186/23").conflict_probe is None, "off by default"
    before = lan.host_a.ip("-d", "link", "show") + lan.host_a.ip("route", "show", "table", "all")
    try:
        f.attach()
    except floatip.ConflictError as e:
        assert HOST_B_MAC in str(e) and "10.0.0.186" in str(e), str(e)
        assert e.errno == 17  # EEXIST, as every conflict
    else:
        raise AssertionError("attach took an IP another node holds")
    assert lan.host_a.ip("-d", "link", "show") + lan.host_a.ip("route", "show", "table", "all") == before
    zombie.detach()
    f.attach()
    assert lan.peer.ping("10.0.0.186")
    f.detach()


def test_probe_options() -> None:
    o = floatip.ProbeOptions(count=3, interval=0.02, wait=0.06, ask_proxies=False)
    assert (o.count, o.interval, o.wait, o.ask_proxies) == (3, 0.02, 0.06, False)
    assert abs(o.window - 0.1) < 1e-9
    assert floatip.ProbeOptions().window == 0.15
    assert repr(floatip.ProbeOptions()) == "ProbeOptions(count=2, interval=0.05, wait=0.1, ask_proxies=True)"
    assert len({floatip.ProbeOptions(), floatip.ProbeOptions()}) == 1
    for bad in ({"count": 0}, {"wait": 11.0}, {"interval": -1.0}):
        try:
            floatip.ProbeOptions(**bad)
        except floatip.InvalidArgumentError:
            pass
        else:
            raise AssertionError(f"accepted {bad}")
    try:
        floatip.FloatingIp("k", "up0", pod_netns_name="x", ipv4=("10.0.0.5/23", "10.0.0.1"), conflict_probe=1)  # type: ignore[arg-type]
    except TypeError:
        pass
    else:
        raise AssertionError("conflict_probe=1 accepted")


def test_unsolicited_na_moves_an_ipv6_address(lab: Lab) -> None:
    lan = lab.lan("na")
    pod_a, pod_b = lab.ns("na-a"), lab.ns("na-b")

    def v6(host: TestNs, pod: TestNs, announce: bool) -> floatip.FloatingIp:
        return floatip.FloatingIp(
            "default/v6", "up0", host_netns=host.ns, pod_netns_name=pod.name,
            ipv6=("2001:db8::184/64", "2001:db8::1"), announce=announce,
        )

    fa = v6(lan.host_a, pod_a, True)
    fa.attach()
    assert lan.peer.ping("2001:db8::184", wait=2)
    assert lan.peer.neigh_mac("2001:db8::184") == HOST_A_MAC
    fa.detach()
    lan.host_a.ip("link", "set", "up0", "down")
    v6(lan.host_b, pod_b, False).attach()
    bg = floatip.Announcer(lan.host_b.name, "up0").spawn(
        [ipaddress.IPv6Address("2001:db8::184")], floatip.AnnounceOptions(count=5, interval=10.0)
    )
    assert wait_until(lambda: lan.peer.neigh_mac("2001:db8::184") == HOST_B_MAC, 1.0) is not None
    assert lan.peer.ping("2001:db8::184", wait=2)
    r = bg.stop()
    assert r.rounds == 1, "stopped before the second round"


def test_host_kept_across_verbs(lab: Lab) -> None:
    lan = lab.lan("hk")
    names = [lab.name(f"hk-p{i}") for i in range(3)]
    host = floatip.Host(lan.host_a.name)
    assert host.netns == lan.host_a.name and repr(host) == f"Host({lan.host_a.name!r})"
    # The same namespace, named three ways.
    same_host: list[floatip.Netns | str] = [lan.host_a.name, lan.host_a.ns, f"/run/netns/{lan.host_a.name}"]
    fips = [
        floatip.FloatingIp(
            f"default/hk{i}",
            "up0",
            host_netns=same_host[i],
            create_pod_netns=names[i],
            ipv4=(f"10.0.0.{120 + i}/23", "10.0.0.1"),
            announce=False,
        )
        for i in range(3)
    ]
    for f in fips:
        assert host.attach(f).changes
        assert host.check(f) == []
    assert all(lan.peer.ping(f"10.0.0.{120 + i}") for i in range(3))
    assert lan.peer.neigh_mac("10.0.0.120") == HOST_A_MAC
    assert host.attach(fips[0]).changes == ()

    # A spec for another host, or for this thread's namespace, is refused
    # before anything changes.
    before = lan.host_b.ip("link", "show") + lan.host_a.ip("link", "show")
    n9 = lab.name("hk-p9")
    other = floatip.FloatingIp(
        "default/hk9", "up0", host_netns=lan.host_b.name, create_pod_netns=n9, ipv4=("10.0.0.129/23", "10.0.0.1")
    )
    here = floatip.FloatingIp("default/hk9", "up0", create_pod_netns=n9, ipv4=("10.0.0.129/23", "10.0.0.1"))
    for bad in (other, here):
        try:
            host.attach(bad)
            raise AssertionError("a spec for another host was attached")
        except floatip.InvalidArgumentError as e:
            assert "not this Host's" in str(e)
    assert lan.host_b.ip("link", "show") + lan.host_a.ip("link", "show") == before
    assert n9 not in floatip.Netns.list()

    # The drain through the Host; the static FloatingIp.detach_many too.
    removed = host.detach_many(fips[:2])
    assert "(2 veths)" in removed[0] and f"ip netns del {names[0]}" in removed
    assert host.detach_many(fips[:2]) == []
    assert lan.peer.ping("10.0.0.122"), "the third pod stays"
    assert "(1 veths)" in floatip.FloatingIp.detach_many([fips[2]])[0]
    assert host.detach(fips[2]) == []
    assert not set(names) & set(floatip.Netns.list())
