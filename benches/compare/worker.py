"""A Python worker of the comparison harness (benches/compare/main.rs).

    python worker.py pyroute2|floatip --host NETNS --uplink up0 --gateway 10.0.0.1 \
        --subnet 10.0.0.0/16 --table T --priority 2000 --proto 70

Reads one JSON request per line on stdin ({"op": "setup"|"teardown"|"quit",
"k", "netns", "host_if", "ip", "prefixlen"}, or {"op": "forget"}: the
harness removed every pod, or {"op": "churn", "workers": [[{"netns",
"host_if", "ip"}, ...], ...], "prefixlen"}: floatip mode only, see
``FloatipPods.churn``), does it, and answers one JSON line: {"ok":
true, "ns": <nanoseconds the library calls took>} or {"ok": false,
"error": "..."}. The first line it writes is a hello once
imports are done and sockets are open, so neither is timed.

pyroute2 is used the fastest way it offers without forking: the worker lives
in the host namespace like a node agent (one IPRoute socket kept open), pod
namespaces are created in-process with ``netns.setns(name, O_CREAT|O_EXCL,
fork=False)`` between ``pushns()`` and ``popns()`` (the default
``netns.create()`` and ``IPRoute(netns=...)`` fork a child for every call),
the veth peer is created directly in the pod namespace, and sysctls are
written to /proc/sys. floatip's policy routing is built the same way:
table T's two routes with ``route("replace", ...)`` on every pod
(idempotent), the pod's three rules with ``rule("add", ...)``; teardown
deletes the rules, and table T's routes with the worker's last pod. floatip is used as documented for an agent: the
worker is started inside the host namespace (it checks), keeps one
``floatip.Host()`` (that namespace, held open with its netlink socket), and
per pod builds a ``FloatingIp`` with ``create_pod_netns`` and calls
``host.attach`` / ``host.detach``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
import time
from typing import Any, Callable

NTF_PROXY = 0x08
RTPROT_BOOT = 3
RT_SCOPE_LINK = 253
RT_TABLE_MAIN = 254


FLOATIP_PROTO = 70  # floatip.floating.mark.DEFAULT_PROTOCOL


class Pyroute2Pods:
    """Pods wired with pyroute2."""

    def __init__(self, a: argparse.Namespace) -> None:
        from pyroute2 import IPRoute, netns

        self.netns = netns
        self.IPRoute = IPRoute
        self.gateway = a.gateway
        self.uplink = a.uplink
        self.table = a.table
        self.priority = a.priority
        self.proto = a.proto
        # Live in the host namespace for good, as an agent on the node does.
        netns.setns(a.host, flags=0, fork=False)
        self.ipr = IPRoute()
        self.uplink_index = self.ipr.link_lookup(ifname=a.uplink)[0]
        # Table T's routes: the subnet on the uplink, the default via the gateway.
        self.table_routes: list[dict[str, Any]] = [
            {"dst": a.subnet, "oif": self.uplink_index, "scope": RT_SCOPE_LINK},
            {"dst": "0.0.0.0/0", "gateway": a.gateway, "oif": self.uplink_index},
        ]
        self.live = 0

    def rules(self, host_if: str, ip: str) -> list[dict[str, Any]]:
        """The pod's three rules, floatip's, in its order."""
        p, t = self.priority, self.table
        common = {"family": socket.AF_INET, "iifname": host_if, "protocol": self.proto}
        return [
            dict(common, priority=p, src=ip, src_len=32, table=RT_TABLE_MAIN, suppress_prefixlen=0),
            dict(common, priority=p + 1, src=ip, src_len=32, table=t),
            dict(common, priority=p + 2, action="blackhole"),
        ]

    def setup(self, netns: str, host_if: str, ip: str, prefixlen: int) -> None:
        ns = self.netns
        # Create the pod namespace in this thread and open a socket inside.
        ns.pushns()
        try:
            ns.setns(netns, flags=os.O_CREAT | os.O_EXCL, fork=False)
            pod = self.IPRoute()
        finally:
            ns.popns()
        try:
            ipr = self.ipr
            ipr.link("add", ifname=host_if, kind="veth", peer={"ifname": "eth0", "net_ns_fd": netns})
            eth0 = pod.link_lookup(ifname="eth0")[0]
            pod.link("set", index=eth0, state="up")
            bits = 32 - prefixlen
            raw = int.from_bytes(bytes(int(x) for x in ip.split(".")), "big")
            brd = ".".join(str(b) for b in (raw | ((1 << bits) - 1)).to_bytes(4, "big"))
            pod.addr("add", index=eth0, address=ip, prefixlen=prefixlen, broadcast=brd)
            pod.route("add", dst="0.0.0.0/0", gateway=self.gateway, oif=eth0, proto=RTPROT_BOOT)
            host = ipr.link_lookup(ifname=host_if)[0]
            # IPv4-only pod: no IPv6 on the host veth (as floatip does).
            with open(f"/proc/sys/net/ipv6/conf/{host_if}/disable_ipv6", "w") as f:
                f.write("1")
            ipr.link("set", index=host, state="up")
            for path, value in (
                (f"/proc/sys/net/ipv4/neigh/{host_if}/proxy_delay", "0"),
                (f"/proc/sys/net/ipv4/conf/{host_if}/proxy_arp", "1"),
                ("/proc/sys/net/ipv4/ip_forward", "1"),
                (f"/proc/sys/net/ipv4/neigh/{self.uplink}/proxy_delay", "0"),
            ):
                with open(path, "w") as f:
                    f.write(value)
            # floatip's owner marks: the veth's alias, protocol 70 on the
            # host route and the proxy entry.
            mark = (
                f"fipbench/1 id={netns} ns=4026532999 lan={self.uplink} ip={ip} table={self.table} "
                f"prio={self.priority} spoof=drop gw={self.gateway}/{prefixlen} pod={netns}"
            )
            ipr.link("set", index=host, ifalias=mark)
            ipr.route("add", dst=f"{ip}/32", oif=host, scope=RT_SCOPE_LINK, proto=FLOATIP_PROTO)
            for r in self.table_routes:
                ipr.route("replace", table=self.table, proto=self.proto, **r)
            for rule in self.rules(host_if, ip):
                ipr.rule("add", **rule)
            ipr.neigh(
                "add", dst=ip, ifindex=self.uplink_index, flags=NTF_PROXY, protocol=FLOATIP_PROTO
            )
            pod.link("set", index=1, state="up")  # lo is ifindex 1 in every netns
            self.live += 1
        finally:
            pod.close()

    def teardown(self, netns: str, host_if: str, ip: str, prefixlen: int) -> None:
        self.ipr.link("del", ifname=host_if)
        for rule in self.rules(host_if, ip):
            self.ipr.rule("del", **rule)
        self.ipr.neigh("del", dst=ip, ifindex=self.uplink_index, flags=NTF_PROXY)
        self.netns.remove(netns)
        self.live = max(0, self.live - 1)
        if self.live == 0:
            for r in reversed(self.table_routes):
                self.ipr.route("del", table=self.table, proto=self.proto, **r)

    def forget(self) -> None:
        self.live = 0


class FloatipPods:
    """Pods wired with the floatip Python binding."""

    def __init__(self, a: argparse.Namespace) -> None:
        import floatip

        host, uplink, gateway = a.host, a.uplink, a.gateway

        # An agent runs in the host namespace: the harness starts this
        # worker there. Never wire pods from anywhere else.
        here = os.stat("/proc/self/ns/net").st_ino
        if os.stat(f"/run/netns/{host}").st_ino != here:
            raise RuntimeError(f"the floatip worker must be started inside netns {host}")
        self.floatip = floatip
        self.host = floatip.Host()
        self.uplink = uplink
        self.gateway = gateway
        self.specs: dict[str, Any] = {}

    def spec(self, netns: str, host_if: str, ip: str, prefixlen: int) -> Any:
        return self.floatip.FloatingIp(
            "bench/" + host_if,
            self.uplink,
            create_pod_netns=netns,
            ipv4=(f"{ip}/{prefixlen}", self.gateway),
            host_ifname=host_if,
            announce=False,
        )

    def setup(self, netns: str, host_if: str, ip: str, prefixlen: int) -> None:
        fip = self.spec(netns, host_if, ip, prefixlen)
        self.host.attach(fip)
        self.specs[netns] = fip

    def teardown(self, netns: str, host_if: str, ip: str, prefixlen: int) -> None:
        fip = self.specs.pop(netns, None) or self.spec(netns, host_if, ip, prefixlen)
        # Until the veth is gone, like the other methods' teardown.
        self.host.detach(fip)
        self.host.flush()

    def forget(self) -> None:
        self.specs.clear()

    def churn(self, req: dict[str, Any]) -> dict[str, Any]:
        """The churn of ``compare churn``: one thread per list in
        ``req["workers"]``, all on this worker's one ``Host``, each looping
        over its pods: create the pod namespace, attach, detach, delete the
        namespace. Timed from the threads' common start until every thread
        is done and ``host.flush()`` has returned (the reaper deleted every
        tombstone); per pod the attach (spec included) and the detach."""
        import threading

        plan: list[list[dict[str, str]]] = req["workers"]
        prefixlen = int(req["prefixlen"])
        clock = time.perf_counter_ns
        netns, fip_class, host = self.floatip.Netns, self.floatip.FloatingIp, self.host
        barrier = threading.Barrier(len(plan) + 1)
        results: list[dict[str, Any]] = [{} for _ in plan]

        def work(w: int) -> None:
            times: list[tuple[int, int]] = []
            barrier.wait()
            try:
                for p in plan[w]:
                    netns.create(p["netns"]).close()
                    t0 = clock()
                    fip = fip_class(
                        "churn/" + p["host_if"],
                        self.uplink,
                        pod_netns_name=p["netns"],
                        ipv4=(f"{p['ip']}/{prefixlen}", self.gateway),
                        host_ifname=p["host_if"],
                        announce=False,
                    )
                    host.attach(fip)
                    t1 = clock()
                    host.detach(fip)
                    t2 = clock()
                    netns.delete(p["netns"])
                    times.append((t1 - t0, t2 - t1))
                results[w] = {"times": times}
            except Exception as e:  # reported with the others
                results[w] = {"error": f"{p['netns']}: {type(e).__name__}: {e}"}

        threads = [threading.Thread(target=work, args=(w,)) for w in range(len(plan))]
        for t in threads:
            t.start()
        barrier.wait()
        start = clock()
        for t in threads:
            t.join()
        done = clock()
        host.flush()
        end = clock()
        errors = [r["error"] for r in results if "error" in r]
        if errors:
            raise RuntimeError("; ".join(errors))
        times = [t for r in results for t in r["times"]]
        return {
            "wall_ns": end - start,
            "done_ns": done - start,
            "flush_ns": end - done,
            "attach_ns": [a for a, _ in times],
            "detach_ns": [d for _, d in times],
        }


def reply(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["pyroute2", "floatip"])
    ap.add_argument("--host", required=True)
    ap.add_argument("--uplink", required=True)
    ap.add_argument("--gateway", required=True)
    ap.add_argument("--subnet", required=True)
    ap.add_argument("--table", type=int, required=True)
    ap.add_argument("--priority", type=int, required=True)
    ap.add_argument("--proto", type=int, required=True)
    a = ap.parse_args()
    # The harness handles Ctrl-C and tells this worker to quit.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        pods = (Pyroute2Pods if a.mode == "pyroute2" else FloatipPods)(a)
    except Exception as e:  # reported to the harness, which skips or fails
        reply({"ok": False, "error": f"{type(e).__name__}: {e}"})
        return 1
    reply({"ok": True})
    ops: dict[str, Callable[..., None]] = {"setup": pods.setup, "teardown": pods.teardown}
    clock = time.perf_counter_ns
    for line in sys.stdin:
        req = json.loads(line)
        op = req.get("op")
        if op == "quit":
            break
        if op == "forget":
            pods.forget()
            reply({"ok": True})
            continue
        if op == "churn":
            try:
                if not isinstance(pods, FloatipPods):
                    raise RuntimeError("churn is the floatip mode's")
                reply({"ok": True, **pods.churn(req)})
            except Exception as e:
                reply({"ok": False, "error": f"churn: {type(e).__name__}: {e}"})
            continue
        args = (req["netns"], req["host_if"], req["ip"], int(req["prefixlen"]))
        try:
            t = clock()
            ops[op](*args)
            reply({"ok": True, "ns": clock() - t})
        except Exception as e:
            reply({"ok": False, "error": f"{op} {req['netns']}: {type(e).__name__}: {e}"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
