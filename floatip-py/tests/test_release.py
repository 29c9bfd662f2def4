"""What a dependent of the package relies on: the core's log records in
``logging`` under ``floatip``, ``Host`` and ``BackgroundAnnounce`` as context
managers with ``close()``, and parity with the Rust API (link groups,
``sysctl_replace``, ``Host.handle``, ``routes()`` taking ``socket.AF_*``).

The kernel's state is read back with iproute2, a reader independent of
floatip's."""

from __future__ import annotations

import ipaddress
import logging
import socket
from typing import Callable

import pytest

import floatip
from netlab import Lab, TestNs


def spec(host: TestNs, pod: TestNs, ip: str, attachment_id: str) -> floatip.FloatingIp:
    return floatip.FloatingIp(
        "default/rel",
        "up0",
        attachment_id=attachment_id,
        host_netns=host.ns,
        pod_netns_name=pod.name,
        ipv4=(ip, "10.0.0.1"),
        announce=False,
    )


def test_a_failed_rollback_is_logged_under_floatip(lab: Lab, caplog: pytest.LogCaptureFixture) -> None:
    lan = lab.lan("rlog")
    pod = lab.ns("rlog-pod")
    f = spec(lan.host_a, pod, "10.0.0.191/23", "rel/log")
    before = lan.host_a.link_names()
    # The test hook (cargo feature `test-hooks`, not in the wheel): step 3
    # fails, and the rollback's first undo fails too.
    attach_failing_at: Callable[..., floatip.Attached]
    with floatip.Host(lan.host_a.ns) as host:
        attach_failing_at = getattr(host, "_attach_failing_at")
        with caplog.at_level(logging.WARNING, logger="floatip"):
            with pytest.raises(floatip.FloatipError) as failed:
                attach_failing_at(f, 3, rollback=True)
        assert "injected failure" in str(failed.value)
        records = [r for r in caplog.records if r.name.startswith("floatip.") and "rollback of" in r.getMessage()]
        assert len(records) == 1, [(r.name, r.getMessage()) for r in caplog.records]
        r = records[0]
        assert r.levelno == logging.WARNING
        assert r.name == "floatip.floating.attach", r.name
        assert "failed: injected failure rollback: " in r.getMessage(), r.getMessage()
        # What the failed undo left is this attachment's, and detach takes it.
        assert lan.host_a.link_names() != before
        host.detach_sync(f)
    assert lan.host_a.link_names() == before


def test_host_close_and_context_manager(lab: Lab) -> None:
    lan = lab.lan("rcl")
    pod = lab.ns("rcl-pod")
    f = spec(lan.host_a, pod, "10.0.0.192/23", "rel/close")
    with floatip.Host(lan.host_a.name) as host:
        assert not host.closed
        host.attach(f)
        assert lan.peer.ping("10.0.0.192", wait=2)
        # detach leaves a tombstone for the reaper; close waits for it.
        host.detach(f)
    assert host.closed and repr(host) == f"Host({lan.host_a.name!r}) (closed)"
    assert host.netns == lan.host_a.name
    assert f.host_ifname not in lan.host_a.link_names(), "close() waited for the reaper"
    with pytest.raises(ValueError, match="closed Host"):
        host.list()
    with pytest.raises(ValueError, match="closed Host"):
        host.attach(f)
    host.close()  # idempotent


def test_background_announce_context_manager(lab: Lab) -> None:
    lan = lab.lan("rbg")
    ip = ipaddress.IPv4Address("10.0.0.193")
    sender = floatip.Announcer(lan.host_b.name, "up0")
    with sender.spawn([ip], floatip.AnnounceOptions(count=5, interval=10.0)) as bg:
        assert not bg.finished
    # Leaving the block stopped the rounds: the handle is used up.
    assert bg.finished
    with pytest.raises(ValueError):
        bg.stop()


def test_parity_link_groups_sysctl_replace_handle_and_families(lab: Lab) -> None:
    lan = lab.lan("rpar")
    with floatip.Host(lan.host_a.name) as host:
        h = host.handle
        assert h.netns == floatip.Handle(lan.host_a.name).netns  # "netns NAME"
        h.veth_add("rg0", "rg1")
        assert h.link_get("rg0").group == 0
        h.link_set_group("rg0", 77)
        assert h.link_get("rg0").group == 77
        assert lan.host_a.ip_json("-d", "link", "show", "dev", "rg0")[0]["group"] == "77"
        h.link_set_up("rg0")
        h.link_set_down_group("rg1", 77)
        assert not h.link_get("rg1").up and h.link_get("rg1").group == 77
        h.link_del_group(77)
        assert "rg0" not in lan.host_a.link_names() and "rg1" not in lan.host_a.link_names()
        with pytest.raises(floatip.InvalidArgumentError):
            h.link_del_group(0)

        key = "net.ipv4.conf.up0.proxy_arp"
        assert lan.host_a.ns.sysctl_replace(key, 1) == "0"
        assert lan.host_a.sysctl(key) == "1"
        assert lan.host_a.ns.sysctl_replace(key, "0") == "1"
        assert lan.host_a.sysctl(key) == "0"

        v4 = h.routes(family=socket.AF_INET)
        assert v4 == h.routes(family=4) and v4 and all(r.dst.version == 4 for r in v4)
        assert h.routes(family=socket.AF_INET6) == h.routes(family=6)
        with pytest.raises(floatip.InvalidArgumentError):
            h.routes(family=socket.AF_PACKET)
        h.close()
