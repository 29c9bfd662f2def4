"""Threads: many pods attached and detached at once from Python threads,
and proof that blocking calls release the GIL."""

from __future__ import annotations

import ctypes
import threading
import time
from array import array
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import floatip
from netlab import Lab

PODS = 16
ROUNDS = 3


def test_sixteen_threads_attach_and_detach(lab: Lab) -> None:
    lan = lab.lan("mt")
    pods = [lab.ns(f"mt-p{i}") if i % 2 == 0 else None for i in range(PODS)]
    created = [lab.name(f"mt-c{i}") for i in range(PODS)]
    shared = floatip.Handle(lan.host_a.ns)  # one handle used by every thread
    specs = []
    for i in range(PODS):
        pod = pods[i]
        where = {"pod_netns_name": pod.name} if pod else {"create_pod_netns": created[i]}
        specs.append(
            floatip.FloatingIp(
                f"default/mt-{i}", "up0", host_netns=lan.host_a.ns, ipv4=(f"10.0.1.{10 + i}/23", "10.0.0.1"),
                announce=False, **where  # type: ignore[arg-type]
            )
        )
    start = threading.Barrier(PODS)

    def worker(i: int) -> int:
        f = specs[i]
        start.wait()
        for _ in range(ROUNDS):
            a = f.attach()
            assert shared.link_get(f.host_ifname).index == a.host_ifindex
            assert f.check() == []
            f.detach()
        a = f.attach()
        return a.host_ifindex

    with ThreadPoolExecutor(PODS) as ex:
        indexes = list(ex.map(worker, range(PODS)))
    assert len(set(indexes)) == PODS
    # All attached at the end: every pod reachable from the LAN.
    routes = {r["dst"] for r in lan.host_a.ip_json("route", "show")}
    assert {f"10.0.1.{10 + i}" for i in range(PODS)} <= routes
    assert lan.peer.ping("10.0.1.10") and lan.peer.ping(f"10.0.1.{10 + PODS - 1}")

    with ThreadPoolExecutor(PODS) as ex:
        list(ex.map(lambda f: f.detach(), specs))
    # Nothing leaked: links, routes, proxy entries, namespaces.
    assert lan.host_a.link_names() == ["lo", "up0"]
    assert not [r for r in lan.host_a.ip_json("route", "show") if r["dst"].startswith("10.0.1.")]
    assert lan.host_a.ip_json("neigh", "show", "proxy") == []
    names = floatip.Netns.list()
    assert not [n for n in created if n in names], "detach deleted the namespaces it created"
    for p in pods:
        if p:
            assert p.link_names() == ["lo"]
    shared.close()


class Counter:
    """A pure-Python busy loop in another thread that stamps the time every
    256 iterations. It can run only while no other thread holds the GIL:
    a call that keeps the GIL leaves no stamps inside its time window."""

    def __init__(self) -> None:
        self.stamps = array("d")
        self.stop = False
        self.thread = threading.Thread(target=self.loop)

    def loop(self) -> None:
        i = 0
        while not self.stop:
            i += 1
            if i & 255 == 0:
                self.stamps.append(time.monotonic())

    def __enter__(self) -> Counter:
        self.thread.start()
        while not self.stamps:
            time.sleep(0.001)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop = True
        self.thread.join()

    def during(self, call: Callable[[], object], margin: float = 0.01) -> int:
        """Runs ``call`` and returns how many stamps fall inside its window,
        less a margin at each end: before a call starts, the interpreter may
        hand the GIL to the counter for one switch interval (5 ms)."""
        t0 = time.monotonic()
        call()
        t1 = time.monotonic()
        return sum(1 for s in self.stamps if t0 + margin < s < t1 - margin)


def test_counter_detects_a_held_gil() -> None:
    """Controls for the method: ctypes' PyDLL keeps the GIL during a foreign
    call, CDLL releases it; both sleep 200 ms in C."""
    keep, release = ctypes.PyDLL(None), ctypes.CDLL(None)
    # Wide margins: on a loaded machine the thread that asked for the GIL
    # back may wait for a CPU well past the 5 ms switch interval, and the
    # counter runs until it gets one.
    with Counter() as c:
        held = c.during(lambda: keep.usleep(200_000), margin=0.05)
        released = c.during(lambda: release.usleep(200_000), margin=0.05)
    assert held == 0
    assert released > 0


def test_blocking_calls_release_the_gil(lab: Lab) -> None:
    """A veth create/delete loop: each delete spends tens of ms in the kernel
    (RCU grace periods), with the GIL released by floatip."""
    t = lab.ns("gil")
    with floatip.Handle(t.ns) as h, Counter() as c:
        inside = 0
        for i in range(8):
            h.veth_add(f"g{i}", f"gp{i}")
            inside += c.during(lambda: h.link_del(f"g{i}"), margin=0.006)
    assert inside > 0, "the counter never ran during a delete: the GIL was held"


def test_announce_releases_the_gil(lab: Lab) -> None:
    lan = lab.lan("gilann")
    a = floatip.Announcer(lan.host_a.ns, "up0")
    opts = floatip.AnnounceOptions(count=3, interval=0.1)
    with Counter() as c:
        inside = c.during(lambda: a.announce(["10.0.0.99"], opts))
    assert inside > 0, "the counter never ran during a 200 ms announcement"
