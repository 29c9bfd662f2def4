"""A minimal node agent: keeps this node's pods' floating IPs wired.

It reads a desired state (pod key -> floating IP, pod namespace path),
attaches what is missing, repairs drift, and detaches pods that left the
node, from a small thread pool. It is typed for ``mypy --strict``.

Run it only inside a test namespace that plays the node (it configures the
namespace it runs in), for example::

    ip netns add node1 && ip -n node1 link add up0 type veth peer name lan0
    ip netns exec node1 python examples/node_agent.py --uplink up0 \\
        --gateway 10.0.0.1 --pod default/web-0=10.0.0.100/23@/run/netns/pod1

Every floatip call releases the GIL, so the pool's threads really run
their kernel work in parallel; every object is safe to share.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import sys
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import floatip

log = logging.getLogger("node-agent")


@dataclass(frozen=True)
class PodSpec:
    """What the agent is asked to keep in place for one pod."""

    key: str
    address: ipaddress.IPv4Interface
    netns_path: str


@dataclass(frozen=True)
class Outcome:
    """What the agent did for one pod."""

    key: str
    action: str
    detail: tuple[str, ...] = ()


class NodeAgent:
    """Reconciles the floating IPs of the pods on this node."""

    def __init__(
        self,
        uplink: str,
        gateway: ipaddress.IPv4Address,
        host_netns: floatip.Netns | str | None = None,
        announce: floatip.AnnounceOptions | None = None,
        workers: int = 8,
    ) -> None:
        self.uplink = uplink
        self.gateway = gateway
        self.host_netns = host_netns
        # The host side held open (namespace and netlink socket) for every
        # attach, check and detach, instead of reopened per call.
        self.host = floatip.Host(host_netns)
        self.announce = announce or floatip.AnnounceOptions(count=3, interval=1.0)
        self.workers = workers
        self.attached: dict[str, floatip.FloatingIp] = {}

    def spec(self, pod: PodSpec) -> floatip.FloatingIp:
        """The validated floatip spec; raises InvalidArgumentError (a
        ValueError) before anything changes."""
        return floatip.FloatingIp(
            pod.key,
            self.uplink,
            host_netns=self.host_netns,
            pod_netns_path=pod.netns_path,
            ipv4=(pod.address, self.gateway),
            announce=self.announce,
        )

    def ensure(self, pod: PodSpec) -> Outcome:
        """Attaches the pod, or repairs it when it drifted."""
        try:
            fip = self.spec(pod)
        except floatip.InvalidArgumentError as e:
            return Outcome(pod.key, "rejected", (e.strerror or str(e),))
        try:
            drift = self.host.check(fip)
            if not drift:
                self.attached[pod.key] = fip
                return Outcome(pod.key, "ok")
            done = self.host.attach(fip)
        except floatip.ConflictError as e:
            # Something else holds the address or the interface name: never
            # take it over.
            return Outcome(pod.key, "conflict", (e.strerror or str(e),))
        except floatip.NotFoundError as e:
            # The pod's namespace is gone (the pod was deleted meanwhile).
            return Outcome(pod.key, "gone", (e.strerror or str(e),))
        self.attached[pod.key] = fip
        return Outcome(pod.key, "attached", done.changes + done.announced)

    def release(self, key: str) -> Outcome:
        """Detaches a pod that left the node (idempotent)."""
        fip = self.attached.pop(key, None)
        if fip is None:
            return Outcome(key, "unknown")
        return Outcome(key, "detached", tuple(self.host.detach(fip)))

    def reconcile(self, desired: Mapping[str, PodSpec]) -> list[Outcome]:
        """One pass: ensure every desired pod, release the others."""
        gone = [k for k in self.attached if k not in desired]
        with ThreadPoolExecutor(self.workers) as pool:
            outcomes = list(pool.map(self.ensure, desired.values()))
            outcomes += list(pool.map(self.release, gone))
        return outcomes

    def flush(self) -> None:
        """Waits until the veths of detached pods are deleted (detach leaves
        that to the host's reaper thread, in batches)."""
        self.host.flush()


def parse_pods(args: Iterable[str]) -> dict[str, PodSpec]:
    """``KEY=ADDRESS/PREFIX@NETNS_PATH`` arguments."""
    pods: dict[str, PodSpec] = {}
    for arg in args:
        key, _, rest = arg.partition("=")
        address, _, path = rest.partition("@")
        pods[key] = PodSpec(key, ipaddress.IPv4Interface(address), path)
    return pods


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--uplink", required=True)
    p.add_argument("--gateway", required=True, type=ipaddress.IPv4Address)
    p.add_argument("--host-netns", default=None, help="name or path; default: the agent's own")
    p.add_argument("--pod", action="append", default=[], metavar="KEY=IP/LEN@NETNS_PATH")
    p.add_argument("--detach-all", action="store_true", help="attach, then detach every pod (a dry run)")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    agent = NodeAgent(a.uplink, a.gateway, host_netns=a.host_netns)
    failed = False
    for o in agent.reconcile(parse_pods(a.pod)):
        log.info("%s: %s", o.key, o.action)
        for line in o.detail:
            log.info("    %s", line)
        failed |= o.action in ("rejected", "conflict")
    if a.detach_all:
        for o in agent.reconcile({}):
            log.info("%s: %s %s", o.key, o.action, ", ".join(o.detail))
        # A dry run leaves nothing behind when it returns.
        agent.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
