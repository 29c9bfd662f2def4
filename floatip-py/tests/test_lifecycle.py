"""Attachments with identity on the simulated LAN: ``Host.list`` reads what
is attached from floatip's owner marks alone, ``Host.gc`` removes what is
not valid and nothing that is not floatip's, a second attachment cannot
take an attached IP, and a late detach of an old sandbox leaves the new one
alone.

The kernel's state is read back with iproute2 (``ip -j -d ...``), a reader
independent of floatip's, and where said so also through ``Handle``."""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
import sys
import time

import pytest

import floatip
from netlab import HOST_A_MAC, Lab, TestNs, wait_until


def spec(
    host: TestNs,
    pod: TestNs,
    attachment_id: str,
    ip: str,
    *,
    key: str = "default/web",
    route_protocol: int | None = None,
) -> floatip.FloatingIp:
    # No announcement: no background thread outlives a test, and nothing
    # here depends on one.
    return floatip.FloatingIp(
        key,
        "up0",
        attachment_id=attachment_id,
        route_protocol=route_protocol,
        host_netns=host.ns,
        pod_netns_name=pod.name,
        ipv4=(ip, "10.0.0.1"),
        announce=False,
    )


def inode(ns: TestNs) -> int:
    """The nsfs inode of a named namespace: what an owner mark records."""
    return os.stat(f"/run/netns/{ns.name}").st_ino


def host_link(host: TestNs, name: str) -> dict[str, object] | None:
    """``ip -d link show dev NAME`` as JSON, or None when there is none."""
    if host.ip_raw("link", "show", "dev", name).returncode != 0:
        return None
    return host.ip_json("-d", "link", "show", "dev", name)[0]


def proxies(host: TestNs) -> dict[str, str | None]:
    """The uplink's proxy entries: IP -> protocol number (None when unset).
    ``-N``: numbers, not iproute2's names for them (99 is ``openr``)."""
    return {str(e["dst"]): e.get("protocol") for e in host.ip_json("-N", "neigh", "show", "proxy", "dev", "up0")}


def host_routes(host: TestNs) -> dict[str, tuple[str, str | None]]:
    """The main table's IPv4 host routes: IP -> (dev, protocol); None for
    protocol boot, which iproute2 does not print."""
    return {
        str(r["dst"]): (str(r["dev"]), r.get("protocol"))
        for r in host.ip_json("-N", "route", "show")
        if "/" not in r["dst"] and r["dst"] != "default"
    }


def links(ns: TestNs) -> dict[str, tuple[object, ...]]:
    """Each link's identity and floatip-relevant settings: name -> (index,
    MAC, alias, peer netns id, master). Not its operstate, which the kernel
    updates on its own schedule."""
    return {
        str(x["ifname"]): (x["ifindex"], x.get("address"), x.get("ifalias"), x.get("link_netnsid"), x.get("master"))
        for x in ns.ip_json("-d", "link", "show")
    }


def addrs4(ns: TestNs) -> set[tuple[str, str]]:
    """The IPv4 addresses: (interface, address/prefix)."""
    return {
        (str(x["ifname"]), f"{a['local']}/{a['prefixlen']}")
        for x in ns.ip_json("-4", "addr", "show")
        for a in x["addr_info"]
    }


def test_list_reads_the_marks(lab: Lab) -> None:
    lan = lab.lan("ls")
    p1, p2 = lab.ns("ls-p1"), lab.ns("ls-p2")
    host = floatip.Host(lan.host_a.name)
    assert host.list() == [], "a fresh host has nothing of floatip's"
    f1 = spec(lan.host_a, p1, "c0ffee01/eth0", "10.0.0.101/23", key="default/web-1")
    f2 = spec(lan.host_a, p2, "c0ffee02/eth0", "10.0.0.102/23", key="default/web-2")
    # Names and MACs derive from the attachment id, not the pod key.
    assert f1.host_ifname == floatip.FloatingIp.default_host_ifname("c0ffee01/eth0")
    assert f1.host_ifname != floatip.FloatingIp.default_host_ifname("default/web-1")
    assert f1.route_protocol == floatip.DEFAULT_ROUTE_PROTOCOL == 70
    a1, a2 = host.attach(f1), host.attach(f2)
    assert (a1.attachment_id, a2.attachment_id) == ("c0ffee01/eth0", "c0ffee02/eth0")

    # The mark is the host veth's alias, as iproute2 shows it; the routes
    # and proxy entries carry the protocol.
    for f, a, pod, ip in ((f1, a1, p1, "10.0.0.101"), (f2, a2, p2, "10.0.0.102")):
        link = host_link(lan.host_a, f.host_ifname)
        assert link is not None
        table = floatip.default_table("up0")
        assert f.route_table == table
        assert a.mark == (
            f"floatip/1 id={f.attachment_id} ns={inode(pod)} lan=up0 ip={ip} "
            f"table={table} prio=2000 spoof=drop gw=10.0.0.1/23 pod={f.pod_key}"
        )
        assert link["ifalias"] == a.mark
        assert link["address"] == f.host_mac == a.host_mac
        assert pod.ip_json("link", "show", "dev", "eth0")[0]["address"] == f.pod_mac
        assert host_routes(lan.host_a)[ip] == (f.host_ifname, "70")
    assert proxies(lan.host_a) == {"10.0.0.101": "70", "10.0.0.102": "70"}
    with lan.host_a.handle() as h:
        assert h.link_get(f1.host_ifname).alias == a1.mark
        assert h.link_get("up0").alias is None
        assert {str(n.ip): n.protocol for n in h.neigh_proxies("up0")} == {"10.0.0.101": 70, "10.0.0.102": 70}

    listed = host.list()
    by_id = {a.attachment_id: a for a in listed}
    assert len(listed) == 2 and set(by_id) == {"c0ffee01/eth0", "c0ffee02/eth0"}
    for f, a, pod, ip in ((f1, a1, p1, "10.0.0.101"), (f2, a2, p2, "10.0.0.102")):
        e = by_id[f.attachment_id]
        assert (e.state, e.missing) == ("complete", ())
        assert e.pod_key == f.pod_key
        assert e.ips == (ipaddress.IPv4Address(ip),)
        assert (e.host_ifname, e.host_ifindex, e.host_mac) == (f.host_ifname, a.host_ifindex, f.host_mac)
        assert e.lan == "up0"
        assert (e.pod_netns_name, e.pod_netns_inode) == (pod.name, inode(pod))
        link = host_link(lan.host_a, f.host_ifname)
        assert link is not None and e.peer_netnsid == link["link_netnsid"]
        assert repr(e) == (
            f'Attachment(attachment_id="{f.attachment_id}", state="complete", ips=(\'{ip}\',), '
            f'host_ifname="{f.host_ifname}", lan="up0", pod_netns_name="{pod.name}", missing=())'
        )

    # Nothing is kept in the process: a fresh Host, and a fresh process,
    # read the same from the kernel. The other host has nothing.
    assert set(floatip.Host(lan.host_a.ns).list()) == set(listed)
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, floatip\n"
            "for a in floatip.Host(sys.argv[1]).list():\n"
            "    print(a.attachment_id, a.state, *a.ips, a.host_ifname, a.pod_netns_name)",
            lan.host_a.name,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    assert sorted(out.splitlines()) == [
        f"c0ffee01/eth0 complete 10.0.0.101 {f1.host_ifname} {p1.name}",
        f"c0ffee02/eth0 complete 10.0.0.102 {f2.host_ifname} {p2.name}",
    ]
    assert floatip.Host(lan.host_b.name).list() == []

    # A deleted host route makes the attachment partial, and says what is
    # missing; attach repairs it.
    lan.host_a.ip("route", "del", "10.0.0.101/32", "dev", f1.host_ifname)
    e1 = next(a for a in host.list() if a.attachment_id == f1.attachment_id)
    assert e1.state == "partial"
    assert e1.missing == (f"ip route add 10.0.0.101/32 dev {f1.host_ifname}",)
    assert host.attach(f1).changes
    assert {(a.attachment_id, a.state) for a in host.list()} == {
        ("c0ffee01/eth0", "complete"),
        ("c0ffee02/eth0", "complete"),
    }

    # The host veth of pod 2 deleted by hand: its routes and pod end go with
    # it, its proxy entry stays, listed as an orphan (its owner unknown).
    lan.host_a.ip("link", "del", f2.host_ifname)
    assert p2.link_names() == ["lo"]
    assert proxies(lan.host_a) == {"10.0.0.101": "70", "10.0.0.102": "70"}
    after = host.list()
    assert len(after) == 2
    assert next(a for a in after if a.attachment_id == f1.attachment_id).state == "complete"
    orphan = next(a for a in after if a.attachment_id is None)
    assert orphan.state == "orphaned"
    assert orphan.ips == (ipaddress.IPv4Address("10.0.0.102"),) and orphan.lan == "up0"
    assert (orphan.host_ifname, orphan.host_ifindex, orphan.pod_key, orphan.pod_netns_name) == (None,) * 4
    assert lan.peer.ping("10.0.0.101"), "pod 1 still answers"


def rules(host: TestNs, iif: str) -> list[tuple[int, str, str, str | None]]:
    """The host's IPv4 rules on ``iif`` as (priority, src, action or table,
    protocol), read with iproute2."""
    out: list[tuple[int, str, str, str | None]] = []
    for r in host.ip_json("rule", "show"):
        if r.get("iif") == iif:
            out.append((r["priority"], r["src"], r.get("table") or r["action"], r.get("protocol")))
    return out


def test_policy_rules_and_their_options(lab: Lab) -> None:
    lan = lab.lan("pr")
    pod = lab.ns("pr-pod")
    host = floatip.Host(lan.host_a.name)
    f = spec(lan.host_a, pod, "pr/eth0", "10.0.0.111/23")
    assert (f.policy_routing, f.anti_spoofing, f.rule_priority) == (True, True, floatip.DEFAULT_RULE_PRIORITY)
    table = str(floatip.default_table("up0"))
    host.attach(f)
    assert rules(lan.host_a, f.host_ifname) == [
        (2000, "10.0.0.111", "main", "70"),
        (2001, "10.0.0.111", table, "70"),
        (2002, "all", "blackhole", "70"),
    ]
    routes = {(r["dst"], r.get("gateway")) for r in lan.host_a.ip_json("route", "show", "table", table)}
    assert routes == {("10.0.0.0/23", None), ("default", "10.0.0.1")}
    host.detach(f)
    assert rules(lan.host_a, f.host_ifname) == []
    assert lan.host_a.ip_json("route", "show", "table", table) == [], "the last pod's table is emptied"

    # Anti-spoofing alone, at other priorities; then neither.
    g = floatip.FloatingIp(
        "default/web", "up0", attachment_id="pr2/eth0", host_netns=lan.host_a.ns, pod_netns_name=pod.name,
        ipv4=("10.0.0.112/23", "10.0.0.1"), announce=False, policy_routing=False, rule_priority=500,
    )
    assert g.route_table is None
    host.attach(g)
    assert rules(lan.host_a, g.host_ifname) == [(501, "10.0.0.112", "main", "70"), (502, "all", "blackhole", "70")]
    assert host.check(g) == []
    host.detach(g)
    h = floatip.FloatingIp(
        "default/web", "up0", attachment_id="pr3/eth0", host_netns=lan.host_a.ns, pod_netns_name=pod.name,
        ipv4=("10.0.0.113/23", "10.0.0.1"), announce=False, policy_routing=False, anti_spoofing=False,
    )
    host.attach(h)
    assert rules(lan.host_a, h.host_ifname) == []
    host.detach(h)

    # Bad values are refused before anything is changed.
    v4 = ("10.0.0.114/23", "10.0.0.1")
    with pytest.raises(floatip.InvalidArgumentError):
        floatip.FloatingIp("k", "up0", pod_netns_name=pod.name, ipv4=v4, route_table=254)
    with pytest.raises(floatip.InvalidArgumentError):
        floatip.FloatingIp("k", "up0", pod_netns_name=pod.name, ipv4=v4, route_table=0)
    with pytest.raises(floatip.InvalidArgumentError):
        floatip.FloatingIp("k", "up0", pod_netns_name=pod.name, ipv4=v4, rule_priority=32764)
    with pytest.raises(floatip.InvalidArgumentError):
        floatip.FloatingIp("k", "up0", pod_netns_name=pod.name, ipv4=v4, lan_address="10.9.0.4/24")


def test_route_protocol(lab: Lab) -> None:
    lan = lab.lan("rp")
    pod = lab.ns("rp-pod")
    f = spec(lan.host_a, pod, "rp/eth0", "10.0.0.105/23", route_protocol=99)
    assert f.route_protocol == 99
    floatip.Host(lan.host_a.name).attach(f)
    assert host_routes(lan.host_a)["10.0.0.105"] == (f.host_ifname, "99")
    assert proxies(lan.host_a) == {"10.0.0.105": "99"}
    assert lan.peer.ping("10.0.0.105")

    # A Host reading protocol 70 finds the marked veth but not its route
    # and proxy entry; one reading 99 finds it complete.
    h70, h99 = floatip.Host(lan.host_a.name), floatip.Host(lan.host_a.name, route_protocol=99)
    assert (h70.route_protocol, h99.route_protocol) == (70, 99)
    assert repr(h99) == f"Host({lan.host_a.name!r}, route_protocol=99)"
    [seen70] = h70.list()
    # Missing for 70: the host route, the proxy entry and the three rules
    # (all of them protocol 99's). The table's routes serve whoever made
    # them: compared by destination, gateway and device.
    assert seen70.state == "partial" and len(seen70.missing) == 5, seen70.missing
    [seen99] = h99.list()
    assert (seen99.attachment_id, seen99.state) == ("rp/eth0", "complete")
    # GC by protocol 70 with the attachment valid: nothing of 99 is its.
    assert h70.gc([f.attachment_id]) == []
    assert proxies(lan.host_a) == {"10.0.0.105": "99"}
    removed = h99.gc([])
    assert any(f.host_ifname in r for r in removed) and any("10.0.0.105" in r for r in removed)
    assert host_link(lan.host_a, f.host_ifname) is None and proxies(lan.host_a) == {}

    # 0-4 are the kernel's: refused before anything is opened or changed.
    for bad in (0, 2, 4):
        with pytest.raises(floatip.InvalidArgumentError):
            floatip.Host(lan.host_a.name, route_protocol=bad)
        with pytest.raises(floatip.InvalidArgumentError):
            spec(lan.host_a, pod, "rp/eth0", "10.0.0.105/23", route_protocol=bad)
    with pytest.raises(OverflowError):
        floatip.Host(lan.host_a.name, route_protocol=256)


def test_gc_removes_the_invalid_and_nothing_else(lab: Lab) -> None:
    lan = lab.lan("gc")
    p1, p2, p3 = lab.ns("gc-p1"), lab.ns("gc-p2"), lab.ns("gc-p3")
    host = floatip.Host(lan.host_a.name)
    keep = spec(lan.host_a, p1, "keep/eth0", "10.0.0.111/23")
    drop = spec(lan.host_a, p2, "drop/eth0", "10.0.0.112/23")
    gone = spec(lan.host_a, p3, "gone/eth0", "10.0.0.113/23")
    for f in (keep, drop, gone):
        host.attach(f)
    # An attachment whose veth was deleted by hand: its proxy entry stays
    # behind, an orphan.
    lan.host_a.ip("link", "del", gone.host_ifname)

    # Look-alikes made by hand, without floatip's marks: a veth named as
    # floatip names them, with a route of its own (protocol boot); a proxy
    # entry without a protocol; a veth whose alias is a mark of another
    # format version, naming the attachment GC removes.
    a = lan.host_a
    look = floatip.FloatingIp.default_host_ifname("lookalike/eth0")
    a.ip("link", "add", look, "type", "veth", "peer", "name", "lk-peer")
    a.ip("link", "set", look, "up")
    a.ip("link", "set", "lk-peer", "up")
    a.ip("route", "add", "10.0.0.198/32", "dev", look)
    a.ip("neigh", "add", "proxy", "10.0.0.199", "dev", "up0")
    a.ip("link", "add", "fipv2mark000001", "type", "veth", "peer", "name", "lk-peer2")
    a.ip("link", "set", "fipv2mark000001", "alias", "floatip/2 id=drop/eth0 ns=1")
    # And one object that is floatip's by its protocol: a route of
    # protocol 70 to an unmarked interface, which no attachment claims.
    a.ip("route", "add", "10.0.0.197/32", "dev", "lk-peer", "proto", "70")

    before = host.list()
    assert {(x.attachment_id, x.state) for x in before if x.attachment_id} == {
        ("keep/eth0", "complete"),
        ("drop/eth0", "complete"),
    }
    orphans = {(str(x.ips[0]), x.host_ifname, x.lan) for x in before if x.attachment_id is None}
    assert orphans == {("10.0.0.113", None, "up0"), ("10.0.0.197", "lk-peer", None)}
    assert all(x.state == "orphaned" for x in before if x.attachment_id is None)

    hand_made = (look, "lk-peer", "fipv2mark000001", "lk-peer2")
    look_before = {n: links(a)[n] for n in hand_made}
    removed = host.gc({keep.attachment_id})
    # The invalid attachment's veth (its route and pod end with it), the
    # proxy entries no valid attachment claims, the orphan route.
    assert any("ip link del group" in r and drop.host_ifname in r for r in removed), removed
    assert any("neigh del proxy 10.0.0.112" in r for r in removed), removed
    assert any("neigh del proxy 10.0.0.113" in r for r in removed), removed
    assert any("route del 10.0.0.197/32" in r for r in removed), removed
    # And the rules of the invalid attachment and of the veth deleted by
    # hand (rules name their veth and outlive it): three each.
    rule_lines = [r for r in removed if r.startswith("ip rule del")]
    assert len(rule_lines) == 6 and len(removed) == 10, removed
    assert a.ip_json("rule", "show", "iif", drop.host_ifname) == []
    assert host_link(a, drop.host_ifname) is None and p2.link_names() == ["lo"]
    assert proxies(a) == {"10.0.0.111": "70", "10.0.0.199": None}
    with a.handle() as h:
        # The same, through floatip's own reader.
        assert {str(n.ip): n.protocol for n in h.neigh_proxies("up0")} == {"10.0.0.111": 70, "10.0.0.199": 0}
        assert (h.link_get(look).alias, h.link_get("fipv2mark000001").alias) == (None, "floatip/2 id=drop/eth0 ns=1")
    assert host_routes(a) == {"10.0.0.111": (keep.host_ifname, "70"), "10.0.0.198": (look, None)}

    # The look-alikes are as they were (also their aliases, or none).
    assert {n: links(a)[n] for n in hand_made} == look_before
    assert look_before[look][2] is None and look_before["fipv2mark000001"][2] == "floatip/2 id=drop/eth0 ns=1"

    # The valid attachment is whole and answers the LAN.
    assert host.check(keep) == []
    assert [(x.attachment_id, x.state) for x in host.list()] == [("keep/eth0", "complete")]
    assert lan.peer.ping("10.0.0.111")
    assert lan.peer.neigh_mac("10.0.0.111") == HOST_A_MAC
    assert not lan.peer.ping("10.0.0.112"), "the removed attachment is gone from the LAN"

    # Any iterable of ids, and again is a no-op; a bare str is refused
    # before anything is removed (its characters would be the ids).
    assert host.gc(x for x in [keep.attachment_id]) == []
    with pytest.raises(TypeError):
        host.gc("keep/eth0")
    with pytest.raises(TypeError):
        host.gc([keep.attachment_id, 7])  # type: ignore[list-item]
    assert host_link(a, keep.host_ifname) is not None

    # With nothing valid, the last attachment goes too, look-alikes stay.
    removed = host.gc([])
    assert any(keep.host_ifname in r for r in removed) and host.list() == []
    assert proxies(a) == {"10.0.0.199": None}
    assert host_routes(a) == {"10.0.0.198": (look, None)}


def test_one_ip_one_attachment(lab: Lab) -> None:
    lan = lab.lan("cf")
    p1, p2 = lab.ns("cf-p1"), lab.ns("cf-p2")
    host = floatip.Host(lan.host_a.name, reap_delay=3600.0)
    first = spec(lan.host_a, p1, "first/eth0", "10.0.0.121/23")
    second = spec(lan.host_a, p2, "second/eth0", "10.0.0.121/23")
    assert first.host_ifname != second.host_ifname
    host.attach(first)

    def state() -> tuple[object, ...]:
        a = lan.host_a
        return (links(a), a.ip("route", "show"), a.ip("neigh", "show", "proxy"), links(p2), addrs4(p2))

    before = state()
    with pytest.raises(floatip.ConflictError) as e:
        host.attach(second)
    assert "10.0.0.121" in str(e.value), str(e.value)
    with pytest.raises(floatip.ConflictError):
        second.attach()  # the one-off verb, likewise
    assert state() == before, "the refused attach changed nothing"
    assert host_link(lan.host_a, second.host_ifname) is None and p2.link_names() == ["lo"]

    # The first is untouched and still serves the LAN.
    assert host.check(first) == []
    assert [(x.attachment_id, x.state) for x in host.list()] == [("first/eth0", "complete")]
    assert lan.peer.ping("10.0.0.121") and lan.peer.neigh_mac("10.0.0.121") == HOST_A_MAC
    assert p1.ping("10.0.0.7")

    # The second's detach removes nothing of the first's.
    assert host.detach(second) == []
    assert state() == before and lan.peer.ping("10.0.0.121")

    # Once the first is detached, the IP is free for the second, at once:
    # the first's veth is a tombstone until the reaper deletes it.
    host.detach(first)
    host.attach(second)
    assert sorted((x.attachment_id, x.state) for x in host.list()) == [
        ("first/eth0", "tombstone"),
        ("second/eth0", "complete"),
    ]
    host.flush()
    assert [(x.attachment_id, x.state) for x in host.list()] == [("second/eth0", "complete")]
    assert lan.peer.ping("10.0.0.121")


def test_late_detach_of_an_old_sandbox(lab: Lab) -> None:
    """DEL(old sandbox), ADD(new), DEL(old) again, as a kubelet sends after
    a node reboot: the late DEL removes nothing of the new sandbox's."""
    lan = lab.lan("late")
    old_ns, new_ns = lab.ns("late-old"), lab.ns("late-new")
    host = floatip.Host(lan.host_a.name)
    old = spec(lan.host_a, old_ns, "x", "10.0.0.131/23", key="default/late")
    new = spec(lan.host_a, new_ns, "x", "10.0.0.131/23", key="default/late")
    # Same attachment, so the same names and MACs.
    assert (old.host_ifname, old.host_mac, old.pod_mac) == (new.host_ifname, new.host_mac, new.pod_mac)
    host.attach(old)
    # DEL(old) leaves a tombstone holding the names; ADD(new) deletes it
    # first.
    assert any("down group" in r for r in host.detach(old))
    attached = host.attach(new)
    assert f" ns={inode(new_ns)} " in attached.mark

    def state() -> tuple[object, ...]:
        a = lan.host_a
        return (links(a), host_routes(a), proxies(a), links(new_ns), addrs4(new_ns), new_ns.ip("route", "show"))

    before = state()
    assert links(lan.host_a)[new.host_ifname][:3] == (attached.host_ifindex, new.host_mac, attached.mark)
    assert addrs4(new_ns) == {("lo", "127.0.0.1/8"), ("eth0", "10.0.0.131/23")}

    # The old sandbox's namespace still exists, but it is not the one the
    # mark names: nothing of the new sandbox's goes.
    assert host.detach(old) == []
    assert state() == before

    # The old sandbox's namespace is gone: still nothing goes, through the
    # Host and through the one-off verbs.
    old_ns.delete()
    assert old_ns.name not in floatip.Netns.list()
    assert host.detach(old) == []
    assert old.detach() == []
    assert floatip.FloatingIp.detach_many([old]) == []
    assert host.detach_many([old]) == []
    assert state() == before
    assert host.check(new) == []
    [e] = host.list()
    assert (e.attachment_id, e.state, e.pod_netns_name) == ("x", "complete", new_ns.name)
    assert lan.peer.ping("10.0.0.131"), "the new sandbox still answers the LAN"
    assert new_ns.ping("10.0.0.7")

    # The new sandbox's own detach removes it.
    assert any(r.startswith("ip link del") for r in host.detach_sync(new))
    assert host.list() == [] and proxies(lan.host_a) == {}


def test_late_detach_keeps_the_new_sandboxs_announcement(lab: Lab) -> None:
    """The new sandbox's IP is still attached here, so its announcement must
    go on: only a detach that removes the attachment stops it."""
    lan = lab.lan("lann")
    old_ns, new_ns = lab.ns("lann-old"), lab.ns("lann-new")
    host = floatip.Host(lan.host_a.name)
    old = spec(lan.host_a, old_ns, "y", "10.0.0.132/23")
    host.attach(old)
    host.detach(old)
    # Rounds 10 s apart: the background part runs for 20 s unless stopped.
    new = floatip.FloatingIp(
        "default/web",
        "up0",
        attachment_id="y",
        host_netns=lan.host_a.ns,
        pod_netns_name=new_ns.name,
        ipv4=("10.0.0.132/23", "10.0.0.1"),
        announce=floatip.AnnounceOptions(count=3, interval=10.0),
    )
    bg = host.attach(new).announcement
    assert bg is not None and not bg.finished
    try:
        assert host.detach(old) == []
        assert host_link(lan.host_a, new.host_ifname) is not None
        # A stop wakes the sender, which then ends within milliseconds; left
        # alone it sends its next round 10 s on, and ends 20 s on.
        ended = wait_until(lambda: bg.finished, 2.0)
        assert ended is None, f"the late DEL of the old sandbox stopped the new sandbox's announcement ({ended:.3f} s)"
    finally:
        bg.stop()
    assert bg.finished


def test_the_watcher_repairs_a_flap_and_deleted_entries(lab: Lab) -> None:
    """``Host.watch()`` puts back what an uplink flap flushed and what was
    deleted by hand, seen by the LAN peer's ping; it stops cleanly, and a
    detached IP stays detached."""
    lan = lab.lan("wt")
    pod = lab.ns("wt-p")
    host = floatip.Host(lan.host_a.name)
    f = spec(lan.host_a, pod, "w/eth0", "10.0.0.108/23")
    host.attach(f)
    assert lan.peer.ping("10.0.0.108")
    assert host.reconcile() == [], "nothing to repair"
    with host.watch(recheck=0.2) as w:
        assert w.running
        lan.host_a.ip("link", "set", "up0", "down")
        lan.host_a.ip("link", "set", "up0", "up")
        assert wait_until(lambda: host.check(f) == [], 10) is not None, host.check(f)
        assert lan.peer.ping("10.0.0.108"), "after the flap"
        lan.host_a.ip("neigh", "del", "proxy", "10.0.0.108", "dev", "up0")
        assert wait_until(lambda: "10.0.0.108" in proxies(lan.host_a), 10) is not None
        assert proxies(lan.host_a) == {"10.0.0.108": "70"}
        assert lan.peer.ping("10.0.0.108"), "after the proxy entry was deleted"
        host.detach(f)
        lan.host_a.ip("link", "set", "up0", "down")
        lan.host_a.ip("link", "set", "up0", "up")
        assert host.reconcile() == []
    assert not w.running, "the context manager stopped it"
    with pytest.raises(ValueError):
        w.stop()
    assert proxies(lan.host_a) == {}


def test_watch_rejects_a_bad_interval(lab: Lab) -> None:
    lan = lab.lan("wb")
    host = floatip.Host(lan.host_a.name)
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(floatip.InvalidArgumentError):
            host.watch(recheck=bad)
    w = host.watch(recheck=1.0)
    r = w.stop()
    assert isinstance(r, floatip.WatchReport) and r.passes >= 1 and r.repairs == 0


def test_detach_retires_and_flush_deletes(lab: Lab) -> None:
    """``Host.detach`` leaves a tombstone (down, in ``TOMBSTONE_GROUP``,
    nothing routed to it, listed as such); ``flush()`` deletes it, after
    which the host is what ``detach_sync`` leaves."""
    lan = lab.lan("tomb")
    pod = lab.ns("tomb-pod")
    # The reaper waits for flush(), so the tombstone can be looked at.
    host = floatip.Host(lan.host_a.name, reap_delay=3600.0)
    f = spec(lan.host_a, pod, "tomb/eth0", "10.0.0.114/23")
    host.attach(f)
    host.detach_sync(f)
    synced = (links(lan.host_a), host_routes(lan.host_a), proxies(lan.host_a), links(pod))

    host.attach(f)
    assert lan.peer.ping("10.0.0.114", wait=2)
    removed = host.detach(f)
    assert any("down group" in r for r in removed), removed
    veth = host_link(lan.host_a, f.host_ifname)
    assert veth is not None
    assert veth["group"] == str(floatip.TOMBSTONE_GROUP)
    flags = veth["flags"]
    assert isinstance(flags, list) and "UP" not in flags
    assert "10.0.0.114" not in host_routes(lan.host_a)
    assert "10.0.0.114" not in proxies(lan.host_a)
    assert [(a.attachment_id, a.state) for a in host.list()] == [("tomb/eth0", "tombstone")]
    assert any("tombstone" in d.found for d in host.check(f))
    assert not lan.peer.ping("10.0.0.114")

    host.flush()
    assert host_link(lan.host_a, f.host_ifname) is None
    assert (links(lan.host_a), host_routes(lan.host_a), proxies(lan.host_a), links(pod)) == synced
    assert host.list() == []
    # Repeated: nothing to do; a re-attach right after a detach works.
    assert host.detach(f) == []
    host.attach(f)
    host.detach(f)
    host.attach(f)
    assert host.check(f) == []
    host.detach_sync(f)


def test_reannounce_points_the_peer_back(lab: Lab) -> None:
    """``Host.reannounce``: a peer entry pointed elsewhere by hand points at
    hostA again within a period; a detached IP is never announced."""
    lan = lab.lan("rean")
    p1, p2 = lab.ns("rean-p1"), lab.ns("rean-p2")
    host = floatip.Host(lan.host_a.name)
    live = spec(lan.host_a, p1, "rean/live", "10.0.0.115/23")
    gone = spec(lan.host_a, p2, "rean/gone", "10.0.0.116/23")
    for f, ip in ((live, "10.0.0.115"), (gone, "10.0.0.116")):
        host.attach(f)
        assert lan.peer.ping(ip, wait=2)
    host.detach_sync(gone)
    elsewhere = "02:00:00:00:0c:01"
    for ip in ("10.0.0.115", "10.0.0.116"):
        lan.peer.ip("neigh", "replace", ip, "lladdr", elsewhere, "dev", "lan0", "nud", "stale")
    with host.reannounce(0.2, floatip.AnnounceOptions(count=1)) as r:
        assert wait_until(lambda: lan.peer.neigh_mac("10.0.0.115") == HOST_A_MAC, 1.0) is not None
        time.sleep(0.5)
        assert lan.peer.neigh_mac("10.0.0.116") == elsewhere
        report = r.stop()
    assert report.passes >= 2 and report.announced == report.passes and report.failed == 0, report
    with pytest.raises(floatip.InvalidArgumentError):
        host.reannounce(0.0)
    host.detach_sync(live)
def conntrack_of(host: TestNs, ip: str) -> list[str]:
    """The host's conntrack entries with ``ip`` as a source or destination,
    read with the ``conntrack`` tool."""
    out = host.exec("conntrack", "-L", check=True).stdout
    return [line for line in out.splitlines() if f"src={ip} " in line or f"dst={ip} " in line]


def test_conntrack_flush_keyword(lab: Lab) -> None:
    assert shutil.which("conntrack"), "conntrack is missing: tests/scripts/test-python.sh installs it"
    lan = lab.lan("ctk")
    pod = lab.ns("ctk-pod")
    host = floatip.Host(lan.host_a.name)
    f = spec(lan.host_a, pod, "ctk/eth0", "10.0.0.115/23")
    assert f.conntrack_flush, "on by default in routed mode"
    off = floatip.FloatingIp(
        "default/web", "up0", attachment_id="ctk/eth0", host_netns=lan.host_a.ns, pod_netns_name=pod.name,
        ipv4=("10.0.0.115/23", "10.0.0.1"), announce=False, conntrack_flush=False,
    )
    assert not off.conntrack_flush
    bridged = floatip.FloatingIp("k", "up0", pod_netns_name="p", ipv4=("10.0.0.9/23", "10.0.0.1"), bridge="br0")
    assert not bridged.conntrack_flush, "off by default in bridge mode"

    # Asking ctnetlink loads nf_conntrack where it is a module.
    lan.host_a.exec("conntrack", "-C")
    if not os.path.exists("/sys/module/nf_conntrack"):
        pytest.skip("this kernel has no connection tracking: nothing to flush")
    # An entry of an earlier life of the IP on this node, made by hand.
    entry = "-p udp -s 10.0.0.115 -d 10.0.0.7 --sport 45000 --dport 53 -t 120"
    lan.host_a.exec("conntrack", "-I", *entry.split(), check=True)
    # Off: attach and detach leave it.
    host.attach(off)
    host.detach_sync(off)
    assert len(conntrack_of(lan.host_a, "10.0.0.115")) == 1
    # On: attach deletes it, and says so.
    a = host.attach(f)
    assert "conntrack -D of 10.0.0.115: 1 entries" in a.changes, a.changes
    assert conntrack_of(lan.host_a, "10.0.0.115") == []
    # A kept Host's detach leaves the entries to its reaper's pass.
    lan.host_a.exec("conntrack", "-I", *entry.split(), check=True)
    host.detach(f)
    host.flush()
    assert conntrack_of(lan.host_a, "10.0.0.115") == []
