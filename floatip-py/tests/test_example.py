"""The typed example node agent, run against the simulated LAN."""

from __future__ import annotations

import importlib.util
import ipaddress
import pathlib
import sys
from types import ModuleType

import floatip
from netlab import Lab

EXAMPLE = pathlib.Path(__file__).parent.parent / "examples" / "node_agent.py"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("node_agent", EXAMPLE)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules["node_agent"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_node_agent_reconciles(lab: Lab) -> None:
    m = load()
    lan = lab.lan("agent")
    pods = [lab.ns(f"agent-p{i}") for i in range(3)]
    desired = {
        f"default/web-{i}": m.PodSpec(f"default/web-{i}", ipaddress.IPv4Interface(f"10.0.0.{150 + i}/23"), f"/run/netns/{p.name}")
        for i, p in enumerate(pods)
    }
    agent = m.NodeAgent("up0", ipaddress.IPv4Address("10.0.0.1"), host_netns=lan.host_a.name,
                        announce=floatip.AnnounceOptions(count=1))
    first = agent.reconcile(desired)
    assert sorted(o.action for o in first) == ["attached"] * 3
    assert all(lan.peer.ping(f"10.0.0.{150 + i}") for i in range(3))
    assert sorted(o.action for o in agent.reconcile(desired)) == ["ok"] * 3
    # Drift is repaired: a pod's host route disappears.
    with lan.host_a.handle() as h:
        hv = floatip.FloatingIp.default_host_ifname("default/web-1")
        h.route_del(floatip.Route("10.0.0.151/32", oif=h.link_get(hv).index))
    assert sorted(o.action for o in agent.reconcile(desired)) == ["attached", "ok", "ok"]
    assert lan.peer.ping("10.0.0.151")
    # A bad spec is rejected without touching anything.
    bad = dict(desired)
    bad["default/bad"] = m.PodSpec("default/bad", ipaddress.IPv4Interface("10.0.0.1/23"), "/run/netns/x")
    assert "rejected" in {o.action for o in agent.reconcile(bad)}
    # Pods that leave are detached.
    gone = agent.reconcile({})
    assert sorted(o.action for o in gone) == ["detached"] * 3
    agent.flush()
    assert lan.host_a.link_names() == ["lo", "up0"]
    # The command line, as an operator runs it.
    assert m.main(["--uplink", "up0", "--gateway", "10.0.0.1", "--host-netns", lan.host_a.name,
                   "--pod", f"default/cli=10.0.0.160/23@/run/netns/{pods[0].name}", "--detach-all"]) == 0
    assert lan.host_a.link_names() == ["lo", "up0"]
