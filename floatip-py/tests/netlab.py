"""A lab of network namespaces for the Python tests (mirrors tests/netlab.rs).

Every namespace a test makes is named ``fipt-<pid>-<n>-<tag>``, is deleted in
the fixture's teardown (also when the test fails), and is swept by a later run
if the process that made it is gone. Nothing here touches the root
namespace's interfaces: the "hosts" are namespaces too.

State is read back through iproute2 (``ip -j -n NS ...``), an independent
reader of what floatip wrote.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Any

import floatip

PREFIX = "fipt"
_counter = itertools.count()
_counter_lock = threading.Lock()

HOST_A_MAC = "02:00:00:00:0a:01"
HOST_B_MAC = "02:00:00:00:0b:01"
GW_MAC = "02:00:00:00:01:01"
PEER_MAC = "02:00:00:00:07:01"


def require_root() -> None:
    """Privileged tests fail (never skip) without root."""
    assert os.geteuid() == 0, "the floatip tests need root (CAP_NET_ADMIN, CAP_SYS_ADMIN)"


def sweep_dead() -> list[str]:
    """Deletes ``fipt-<pid>-...`` namespaces whose process is gone.

    Only dead processes' namespaces: tests of the Rust suite running at the
    same time keep theirs.
    """
    swept = []
    for name in floatip.Netns.list():
        if not name.startswith(PREFIX + "-"):
            continue
        pid = name.split("-")[1]
        if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            try:
                floatip.Netns.delete(name)
                swept.append(name)
            except floatip.NotFoundError:
                pass
    return swept


def unique_name(tag: str) -> str:
    """``fipt-<pid>-<n>-<tag>``, unique within this process."""
    with _counter_lock:
        n = next(_counter)
    return f"{PREFIX}-{os.getpid()}-{n}-{tag}"


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Runs a command, failing the test with its stderr on error."""
    p = subprocess.run(args, capture_output=True, text=True, timeout=30)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(args)}: exit {p.returncode}: {p.stderr.strip()}")
    return p


class TestNs:
    """A namespace owned by one test; ``delete()`` in the fixture teardown."""

    __test__ = False  # not a pytest test class

    def __init__(self, tag: str) -> None:
        require_root()
        self.name = unique_name(tag)
        self.ns = floatip.Netns.create(self.name)

    def handle(self) -> floatip.Handle:
        return floatip.Handle(self.ns)

    def ip(self, *args: str) -> str:
        """``ip -n NAME ARGS...``."""
        return run("ip", "-n", self.name, *args).stdout

    def ip_raw(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run("ip", "-n", self.name, *args, check=False)

    def ip_json(self, *args: str) -> list[dict[str, Any]]:
        """``ip -j -n NAME ARGS...`` parsed."""
        out = run("ip", "-j", "-n", self.name, *args).stdout.strip()
        if not out:
            return []
        v = json.loads(out)
        return v if isinstance(v, list) else [v]

    def exec(self, *cmd: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        """``ip netns exec NAME CMD...``."""
        return run("ip", "netns", "exec", self.name, *cmd, check=check)

    def sysctl(self, dotted: str) -> str:
        """Reads a sysctl with ``cat`` inside the namespace."""
        path = "/proc/sys/" + dotted.replace(".", "/")
        return self.exec("cat", path, check=True).stdout.strip()

    def ping(self, dst: str, wait: int = 1) -> bool:
        """``ping -c 1 -W 1 DST`` from this namespace."""
        assert shutil.which("ping"), "ping is missing: tests/scripts/test-python.sh installs iputils-ping"
        return self.exec("ping", "-n", "-q", "-c", "1", "-W", str(wait), dst).returncode == 0

    def neigh_mac(self, ip: str) -> str | None:
        """The MAC this namespace's neighbour cache holds for ``ip``."""
        for e in self.ip_json("neigh", "show", ip):
            mac = e.get("lladdr")
            if isinstance(mac, str):
                return mac
        return None

    def link_names(self) -> list[str]:
        return sorted(str(link["ifname"]) for link in self.ip_json("link", "show"))

    def delete(self) -> None:
        self.ns.close()
        try:
            floatip.Netns.delete(self.name)
        except floatip.NotFoundError:
            pass


class Lab:
    """Makes namespaces for one test and deletes them all at teardown."""

    def __init__(self) -> None:
        self.made: list[TestNs] = []
        self.extra_names: list[str] = []

    def ns(self, tag: str) -> TestNs:
        t = TestNs(tag)
        self.made.append(t)
        return t

    def name(self, tag: str) -> str:
        """A name for a namespace something else creates (``create_pod_netns``);
        deleted at teardown if still there."""
        n = unique_name(tag)
        self.extra_names.append(n)
        return n

    def lan(self, tag: str) -> Lan:
        return Lan.build(self, tag)

    def teardown(self) -> None:
        for t in reversed(self.made):
            t.delete()
        for n in self.extra_names:
            try:
                floatip.Netns.delete(n)
            except floatip.NotFoundError:
                pass


@dataclass
class Lan:
    """The simulated LAN (docs/testing.md, "The simulated LAN"): a ``switch``
    netns with bridge ``br0``; ``host_a``, ``host_b``, a gateway ``gw`` and a
    ``peer`` joined to it by veths.

    | netns  | if   | IPv4        | IPv6           | MAC               |
    | gw     | lan0 | 10.0.0.1/23 | 2001:db8::1/64 | 02:00:00:00:01:01 |
    | host_a | up0  | 10.0.0.2/23 | 2001:db8::2/64 | 02:00:00:00:0a:01 |
    | host_b | up0  | 10.0.0.3/23 | 2001:db8::3/64 | 02:00:00:00:0b:01 |
    | peer   | lan0 | 10.0.0.7/23 | 2001:db8::7/64 | 02:00:00:00:07:01 |

    Built with floatip itself (bridge, veths created straight into each
    member's namespace, addresses), plus ``ip`` for the bridge option.
    """

    switch: TestNs
    host_a: TestNs
    host_b: TestNs
    gw: TestNs
    peer: TestNs

    @staticmethod
    def build(lab: Lab, tag: str) -> Lan:
        lan = Lan(
            switch=lab.ns(f"{tag}-sw"),
            host_a=lab.ns(f"{tag}-hostA"),
            host_b=lab.ns(f"{tag}-hostB"),
            gw=lab.ns(f"{tag}-gw"),
            peer=lab.ns(f"{tag}-peer"),
        )
        with lan.switch.handle() as sw:
            sw.bridge_add("br0")
            sw.link_set_up("br0")
            members = [
                (lan.gw, "lan0", "p-gw", "10.0.0.1/23", "2001:db8::1/64", GW_MAC),
                (lan.host_a, "up0", "p-a", "10.0.0.2/23", "2001:db8::2/64", HOST_A_MAC),
                (lan.host_b, "up0", "p-b", "10.0.0.3/23", "2001:db8::3/64", HOST_B_MAC),
                (lan.peer, "lan0", "p-peer", "10.0.0.7/23", "2001:db8::7/64", PEER_MAC),
            ]
            for member, ifname, port, v4, v6, mac in members:
                sw.veth_add(port, ifname, peer_netns=member.ns, peer_mac=mac)
                sw.link_set_master(port, "br0")
                sw.link_set_up(port)
                # No DAD on a fresh test LAN: link-local addresses are usable
                # at once. Off before the link comes up.
                member.ns.sysctl_set(f"net.ipv6.conf.{ifname}.accept_dad", 0)
                with member.handle() as h:
                    h.link_set_up(ifname)
                    h.link_set_up("lo")
                    h.addr_add(ifname, v4)
                    h.addr_add(ifname, v6, nodad=True)
        # No MLD querier on this LAN: with snooping on, the bridge drops
        # solicited-node multicast (IPv6 NS) until delayed MLD reports come.
        lan.switch.ip("link", "set", "br0", "type", "bridge", "mcast_snooping", "0")
        # The switch only forwards frames; its own (empty) iptables must not
        # see bridged IP traffic.
        lan.switch.exec("sh", "-c", "echo 0 > /proc/sys/net/bridge/bridge-nf-call-iptables")
        return lan


def wait_until(pred: Any, limit: float, step: float = 0.01) -> float | None:
    """Polls ``pred()`` until true; returns the time it took, or None."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        if pred():
            return time.monotonic() - t0
        time.sleep(step)
    return None
