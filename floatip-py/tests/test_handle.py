"""Handle: links, veths into a namespace, addresses, routes, neighbours,
each checked with iproute2."""

from __future__ import annotations

import ipaddress

import pytest

import floatip
from netlab import Lab


def test_veth_into_another_namespace(lab: Lab) -> None:
    host, pod = lab.ns("vh"), lab.ns("vp")
    with floatip.Handle(host.ns) as h, floatip.Handle(pod.name) as p:
        h.veth_add("vh0", "eth0", peer_netns=pod.ns, mac="02:00:00:00:00:01", peer_mac=b"\x02\0\0\0\0\x02", mtu=1400)
        vh0 = h.link_get("vh0")
        assert (vh0.kind, vh0.mtu, vh0.mac, vh0.up) == ("veth", 1400, "02:00:00:00:00:01", False)
        assert h.link_get(vh0.index) == vh0
        assert host.ip_json("link", "show", "vh0")[0]["address"] == "02:00:00:00:00:01"
        eth0 = p.link_get("eth0")
        assert eth0.mac == "02:00:00:00:00:02" and eth0.link == vh0.index and eth0.link_netnsid is not None
        assert "eth0" not in host.link_names()
        p.link_set_up("eth0")
        h.link_set_up(vh0.index)
        assert h.link_get("vh0").up
        assert "UP" in host.ip_json("link", "show", "vh0")[0]["flags"]
        h.link_set_mtu("vh0", 1300)
        assert host.ip_json("link", "show", "vh0")[0]["mtu"] == 1300
        h.link_set_down("vh0")
        assert "UP" not in host.ip_json("link", "show", "vh0")[0]["flags"]
        assert {link.name for link in h.links()} == {"lo", "vh0"}
        h.link_del("vh0")
        assert "eth0" not in pod.link_names(), "deleting one end deletes both"


def test_bridge_master_and_netns_move(lab: Lab) -> None:
    a, b = lab.ns("ba"), lab.ns("bb")
    with a.handle() as h:
        h.bridge_add("br0")
        h.veth_add("v0", "v1")
        h.link_set_master("v0", "br0")
        assert h.link_get("v0").master == h.link_get("br0").index
        assert a.ip_json("link", "show", "v0")[0]["master"] == "br0"
        h.link_set_master("v0", None)
        assert h.link_get("v0").master is None
        h.link_set_netns("v1", b.name)
        assert "v1" in b.link_names() and "v1" not in a.link_names()


def test_addresses_accept_str_and_ipaddress(lab: Lab) -> None:
    t = lab.ns("addr")
    with t.handle() as h:
        h.veth_add("v0", "v1")
        h.link_set_up("v0")
        h.addr_add("v0", "10.1.0.5/24")
        h.addr_add("v0", ipaddress.IPv4Interface("10.2.0.5/16"))
        h.addr_add("v0", ipaddress.ip_interface("2001:db8::5/64"), nodad=True, noprefixroute=True)
        got = {a.address for a in h.addrs("v0")}
        assert ipaddress.ip_interface("10.1.0.5/24") in got
        assert ipaddress.ip_interface("10.2.0.5/16") in got
        v6 = next(a for a in h.addrs("v0") if a.address == ipaddress.ip_interface("2001:db8::5/64"))
        assert v6.nodad and not v6.tentative and isinstance(v6.address, ipaddress.IPv6Interface)
        shown = t.ip_json("addr", "show", "dev", "v0")[0]["addr_info"]
        assert {(a["local"], a["prefixlen"]) for a in shown} >= {("10.1.0.5", 24), ("10.2.0.5", 16), ("2001:db8::5", 64)}
        h.addr_replace("v0", "10.1.0.5/24")
        h.addr_del("v0", ipaddress.IPv4Interface("10.2.0.5/16"))
        assert ipaddress.ip_interface("10.2.0.5/16") not in {a.address for a in h.addrs()}
        # A prefix route the kernel added for 10.1.0.0/24, none for the v6 noprefixroute.
        dsts = {r.dst for r in h.routes()}
        assert ipaddress.ip_network("10.1.0.0/24") in dsts
        assert ipaddress.ip_network("2001:db8::/64") not in dsts


def test_routes(lab: Lab) -> None:
    t = lab.ns("rt")
    with t.handle() as h:
        h.veth_add("v0", "v1")
        h.link_set_up("v0")
        h.link_set_up("v1")
        v0 = h.link_get("v0").index
        h.addr_add("v0", "10.0.0.2/23")
        host = floatip.Route("10.0.0.100/32", oif=v0)
        h.route_add(host)
        r = next(r for r in t.ip_json("route", "show") if r["dst"] == "10.0.0.100")
        assert (r["dev"], r["scope"]) == ("v0", "link")
        dflt = floatip.Route.default_via(ipaddress.IPv4Address("10.0.0.1"), oif=v0)
        h.route_add(dflt)
        assert next(r for r in t.ip_json("route", "show") if r["dst"] == "default")["gateway"] == "10.0.0.1"
        fib = h.route_get_fibmatch("10.0.0.100")
        assert fib.dst == ipaddress.ip_network("10.0.0.100/32") and fib.oif == v0
        assert h.route_get_fibmatch("192.0.2.1").gateway == ipaddress.ip_address("10.0.0.1")
        listed = h.routes(family=4, oif="v0")
        assert any(x.dst == ipaddress.ip_network("10.0.0.100/32") and x.scope == floatip.SCOPE_LINK for x in listed)
        assert all(x.dst.version == 4 for x in listed)
        assert h.routes(family=6, table=100) == []
        # The metric is part of a route's key: this adds a second route.
        h.route_replace(floatip.Route("10.0.0.100/32", oif=v0, metric=5))
        assert sorted(r.get("metric", 0) for r in t.ip_json("route", "show") if r["dst"] == "10.0.0.100") == [0, 5]
        # Routes read back can be deleted as they are.
        for x in h.routes(oif=v0):
            if x.dst == ipaddress.ip_network("10.0.0.100/32"):
                h.route_del(x)
        assert not [r for r in t.ip_json("route", "show") if r["dst"] == "10.0.0.100"]
        with pytest.raises(floatip.InvalidArgumentError):
            h.route_add(floatip.Route("10.9.0.0/16", gateway="2001:db8::1"))
        with pytest.raises(floatip.InvalidArgumentError):
            h.routes(family=5)  # type: ignore[arg-type]


def test_neighbours_and_proxies(lab: Lab) -> None:
    t = lab.ns("nb")
    with t.handle() as h:
        h.veth_add("v0", "v1")
        h.link_set_up("v0")
        h.neigh_add("v0", "10.0.0.9", "02:00:00:00:00:09")
        n = next(n for n in h.neighbours("v0") if n.ip == ipaddress.ip_address("10.0.0.9"))
        assert n.mac == "02:00:00:00:00:09" and n.state == floatip.NUD_PERMANENT and not n.proxy
        assert t.neigh_mac("10.0.0.9") == "02:00:00:00:00:09"
        h.neigh_replace("v0", ipaddress.IPv4Address("10.0.0.9"), "02:00:00:00:00:0a")
        assert t.neigh_mac("10.0.0.9") == "02:00:00:00:00:0a"
        h.neigh_del("v0", "10.0.0.9")
        assert t.neigh_mac("10.0.0.9") is None
        assert h.neigh_proxy_get("v0", "10.0.0.100") is None
        h.neigh_proxy_add("v0", "10.0.0.100")
        h.neigh_proxy_add("v0", "2001:db8::100")
        p = h.neigh_proxy_get("v0", "10.0.0.100")
        assert p is not None and p.proxy and p.mac is None
        assert {str(x.ip) for x in h.neigh_proxies("v0")} == {"10.0.0.100", "2001:db8::100"}
        assert {x["dst"] for x in t.ip_json("neigh", "show", "proxy")} == {"10.0.0.100", "2001:db8::100"}
        h.neigh_proxy_del("v0", "10.0.0.100")
        assert h.neigh_proxy_get("v0", "10.0.0.100") is None


def test_handle_in_current_namespace_and_close(lab: Lab) -> None:
    t = lab.ns("cur")
    # Handle() talks to the calling thread's namespace: use it only inside
    # a test namespace, through Netns.run.
    links = t.ns.run(lambda: [link.name for link in floatip.Handle().links()])
    assert links == ["lo"]
    h = floatip.Handle(t.ns, timeout=2.0)
    assert t.name in h.netns and "netns" in repr(h)
    h.close()
    assert h.closed
    with pytest.raises(ValueError, match="closed"):
        h.links()


def test_argument_types_are_checked(lab: Lab) -> None:
    t = lab.ns("types")
    with t.handle() as h:
        with pytest.raises(TypeError):
            h.link_get(1.5)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            h.neigh_proxy_add(1, 167772161)  # type: ignore[arg-type]
        with pytest.raises(floatip.InvalidArgumentError):
            h.neigh_proxy_add(1, "10.0.0.300")
        with pytest.raises(floatip.InvalidArgumentError, match="interface name"):
            h.link_get("../../..")
        with pytest.raises(floatip.InvalidArgumentError):
            h.link_get("a-name-of-16-byt")
        with pytest.raises(floatip.InvalidArgumentError):
            # An interface has a prefix: not an address.
            h.neigh_proxy_add(1, ipaddress.IPv4Interface("10.0.0.1/24"))
        with pytest.raises(floatip.InvalidArgumentError):
            h.neigh_add(1, "10.0.0.1", "02:00:00:00:00")
        with pytest.raises(floatip.InvalidArgumentError):
            h.addr_add(1, "10.0.0.1/33")
        with pytest.raises(floatip.InvalidArgumentError):
            floatip.Handle(t.ns, timeout=0)
    assert t.ip_json("neigh", "show", "proxy") == []
