"""Netns: create/open/current/list/delete, context manager, run, sysctls."""

from __future__ import annotations

import os
import pathlib
import socket

import pytest

import floatip
from netlab import Lab, unique_name


def test_create_open_list_delete() -> None:
    name = unique_name("ns")
    ns = floatip.Netns.create(name)
    try:
        assert ns.name == name
        assert ns.path == pathlib.Path("/run/netns") / name
        assert name in floatip.Netns.list()
        # The independent reader sees it too.
        assert name in os.popen("ip netns list").read()
        again = floatip.Netns.open(name)
        by_path = floatip.Netns.open_path(f"/run/netns/{name}")
        assert ns.same_as(again) and ns.same_as(by_path)
        assert not ns.same_as(floatip.Netns.current())
        with pytest.raises(floatip.AlreadyExistsError):
            floatip.Netns.create(name)
    finally:
        floatip.Netns.delete(name)
    assert name not in floatip.Netns.list()
    with pytest.raises(floatip.NotFoundError) as e:
        floatip.Netns.delete(name)
    assert isinstance(e.value, FileNotFoundError)
    with pytest.raises(floatip.NotFoundError):
        floatip.Netns.open(name)


def test_context_manager_closes_but_does_not_delete(lab: Lab) -> None:
    t = lab.ns("ctx")
    with floatip.Netns.open(t.name) as ns:
        assert not ns.closed
        assert ns.fileno() >= 0
    assert ns.closed
    with pytest.raises(ValueError, match="closed"):
        ns.fileno()
    assert t.name in floatip.Netns.list(), "closing keeps the namespace"
    ns.close()  # idempotent
    assert "closed" in repr(ns)


def test_open_path_rejects_non_netns_files(tmp_path: pathlib.Path) -> None:
    f = tmp_path / "not-a-netns"
    f.write_text("x")
    with pytest.raises(floatip.InvalidArgumentError):
        floatip.Netns.open_path(f)
    with pytest.raises(floatip.NotFoundError):
        floatip.Netns.open_path(tmp_path / "missing")
    # A process's namespace by path, as CNI_NETNS gives it.
    assert floatip.Netns.open_path(f"/proc/{os.getpid()}/ns/net").same_as(floatip.Netns.current())


def test_invalid_names_are_refused_before_any_change() -> None:
    before = floatip.Netns.list()
    for bad in ["", ".", "..", "a/b", "../x"]:
        with pytest.raises(floatip.InvalidArgumentError) as e:
            floatip.Netns.create(bad)
        assert isinstance(e.value, ValueError) and e.value.op == "validate"
    assert floatip.Netns.list() == before


def test_run_executes_inside_the_namespace(lab: Lab) -> None:
    t = lab.ns("run")
    # The thread's own view of /proc/net (/proc/net follows the process's
    # main thread) lists only lo inside the new namespace.
    devs = t.ns.run(lambda: open("/proc/thread-self/net/dev").read())
    assert "lo:" in devs and "eth0" not in devs
    # The caller's thread did not move.
    assert floatip.Netns.current().same_as(floatip.Netns.open_path(f"/proc/{os.getpid()}/ns/net"))

    # A socket made inside belongs there: bind to an address only that
    # namespace has.
    with t.handle() as h:
        h.link_set_up("lo")
        h.addr_add("lo", "192.0.2.9/32")

    def bind() -> int:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("192.0.2.9", 0))
        port: int = s.getsockname()[1]
        s.close()
        return port

    assert t.ns.run(bind) > 0
    with pytest.raises(OSError):
        bind()  # not here: the caller's namespace has no such address
    # Arguments and exceptions pass through.
    def add(a: int, b: int = 0) -> int:
        return a + b

    def missing() -> int:
        d: dict[str, int] = {}
        return d["x"]

    assert t.ns.run(add, 2, b=3) == 5
    with pytest.raises(KeyError):
        t.ns.run(missing)


def test_sysctls_are_per_namespace(lab: Lab) -> None:
    a, b = lab.ns("sa"), lab.ns("sb")
    a.ns.sysctl_set("net.ipv4.ip_forward", 1)
    assert a.ns.sysctl_get("net.ipv4.ip_forward") == "1"
    assert a.sysctl("net.ipv4.ip_forward") == "1"
    assert b.sysctl("net.ipv4.ip_forward") == "0", "the other namespace is untouched"
    a.ns.sysctl_set("net.ipv4.neigh.lo.proxy_delay", "0")
    assert a.sysctl("net.ipv4.neigh.lo.proxy_delay") == "0"
    for bad in ["kernel.hostname", "net.ipv4.conf.../../x.y", "net", "net.ipv4.X"]:
        with pytest.raises(floatip.InvalidArgumentError):
            a.ns.sysctl_get(bad)
    with pytest.raises(floatip.NotFoundError):
        a.ns.sysctl_get("net.ipv4.conf.nosuchdev.proxy_arp")
