"""Draws the failover harness's results (target/compare/failover.json).

    python plot.py FAILOVER.json OUT.png

Two panels: the time until the peer reaches every pod against N, per
method (measured runs as points; for the recipe, which attaches and
announces pod after pod, also the time until the first n pods of its
N-pod run were reachable, as a line); and, at the run's N, when each pod
became reachable from the peer, against its number k.
"""

from __future__ import annotations

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLORS = {
    "floatip": "#1f77b4",
    "floatip-3rounds": "#17becf",
    "recipe": "#d62728",
    "recipe-parallel": "#ff7f0e",
    "no-announce": "#7f7f7f",
}


def color(m: str) -> str:
    return COLORS.get(m, "#2ca02c")


def main(src: str, dst: str) -> None:
    with open(src) as f:
        r = json.load(f)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 5))

    # Convergence against N: every run, repetitions as separate points.
    points: dict[str, list[tuple[int, float, bool]]] = {}
    for run in r["runs"] + r["sweep"]:
        conv = run["convergence_ms"]
        done = conv is not None
        points.setdefault(run["method"], []).append(
            (run["pods"], conv if done else run["bound_ms"], done)
        )
    for m, pts in points.items():
        pts.sort()
        ns = sorted({n for n, _, _ in pts})
        med = []
        for n in ns:
            v = sorted(c for k, c, _ in pts if k == n)
            med.append(v[len(v) // 2])
        ax1.plot(ns, [x / 1e3 for x in med], "-", color=color(m), alpha=0.6)
        ax1.scatter(
            [n for n, _, d in pts if d], [c / 1e3 for _, c, d in pts if d], color=color(m), label=m, zorder=3
        )
        cut = [(n, c) for n, c, d in pts if not d]
        if cut:
            ax1.scatter(
                [n for n, _ in cut], [c / 1e3 for _, c in cut], color=color(m), marker="^", zorder=3,
                label=f"{m}: not converged at the bound",
            )
    # The recipe's first n pods, from its N-pod run.
    rec = r["methods"].get("recipe", {}).get("median_run")
    if rec:
        reach = [x for x in rec["reachable_ms"]]
        firsts, worst = [], 0.0
        for x in reach:
            if x is None:
                break
            worst = max(worst, x)
            firsts.append(worst / 1e3)
        if firsts:
            ax1.plot(
                range(1, len(firsts) + 1), firsts, ":", color=color("recipe"),
                label="recipe: first n pods of its run",
            )
    ax1.set_xscale("log")
    ax1.set_yscale("log")
    ax1.set_xlabel("pods moved (N)")
    ax1.set_ylabel("time until the peer reaches every pod (s)")
    ax1.set_title("Failover: time to convergence against N")
    ax1.grid(True, which="both", alpha=0.3)
    ax1.legend(fontsize=8)

    # Per pod at N.
    for m, v in r["methods"].items():
        run = v.get("median_run")
        if not run:
            continue
        ks = [k for k, x in zip(run["measured"], run["reachable_ms"]) if x is not None]
        xs = [x / 1e3 for x in run["reachable_ms"] if x is not None]
        ax2.plot(ks, xs, ".", markersize=3, color=color(m), label=f"{m} ({len(xs)} of {run['measured_pods']})")
    ax2.set_yscale("log")
    ax2.set_xlabel("pod k (attach order on the new node)")
    ax2.set_ylabel("reachable from the peer after the first attach (s)")
    ax2.set_title(f"N = {r['pods']}: when each pod was reachable")
    ax2.grid(True, which="both", alpha=0.3)
    ax2.legend(fontsize=8)

    load = r.get("load_average", {})
    fig.suptitle(
        f"floatip failover, kernel {r.get('kernel', '?')}, {r.get('cpus', '?')} CPUs, "
        f"load average {load.get('start', '?')} .. {load.get('end', '?')}",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(dst, dpi=110)
    print(f"wrote {dst}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
