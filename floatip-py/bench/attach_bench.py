"""Attach and detach the same pod's floating IP from Python, as the Rust
criterion bench (benches/attach.rs) does, and print microseconds per pod.

Run as root (it builds the simulated LAN out of network namespaces named
``fipt-<pid>-<n>-<tag>`` and deletes them at the end, also on failure)::

    python floatip-py/bench/attach_bench.py [--iterations 200]

Like the Rust bench: the pod namespace exists already (as a CNI runtime
hands it over), the host side is a namespace too, and the shared settings
(``ip_forward``, the uplink's ``proxy_delay``) are set by one attach/detach
before timing, as on a node that already runs pods. Each iteration is one
pod: "attach" times ``FloatingIp.attach()`` alone (detach untimed),
"attach+detach" times both. Measured with announcing on (the default:
the first gratuitous-ARP round is sent before attach returns, the rest in
the background) and off.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))

import floatip  # noqa: E402
import netlab  # noqa: E402


def measure(fip: floatip.FloatingIp, n: int) -> dict[str, list[float]]:
    attach_only: list[float] = []
    detach_only: list[float] = []
    both: list[float] = []
    for _ in range(n):
        t0 = time.perf_counter()
        fip.attach()
        t1 = time.perf_counter()
        fip.detach()
        t2 = time.perf_counter()
        attach_only.append((t1 - t0) * 1e6)
        detach_only.append((t2 - t1) * 1e6)
        both.append((t2 - t0) * 1e6)
    return {"attach": attach_only, "detach": detach_only, "attach+detach": both}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--iterations", type=int, default=200)
    a = p.parse_args()
    netlab.require_root()
    netlab.sweep_dead()
    lab = netlab.Lab()
    try:
        lan = lab.lan("bench")
        pod = lab.ns("bench-pod")
        print(f"floatip {floatip.__version__}, {a.iterations} pods per row, microseconds per pod")
        print(f"{'announce':<9} {'what':<14} {'median':>9} {'mean':>9} {'p90':>9}")
        for announce in (True, False):
            fip = floatip.FloatingIp(
                "bench/pod",
                "up0",
                host_netns=lan.host_a.ns,
                pod_netns_name=pod.name,
                ipv4=("10.0.0.100/23", "10.0.0.1"),
                announce=announce,
            )
            fip.attach()
            fip.detach()
            for what, v in measure(fip, a.iterations).items():
                p90 = statistics.quantiles(v, n=10)[-1]
                on = "on" if announce else "off"
                print(f"{on:<9} {what:<14} {statistics.median(v):>9.0f} {statistics.mean(v):>9.0f} {p90:>9.0f}")
    finally:
        lab.teardown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
