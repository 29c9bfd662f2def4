"""Draws the comparison harness's results (target/compare/results.json).

    python plot.py RESULTS.json OUT.png

Three panels: setup time per pod against pod number k for every method
(median over repetitions), teardown likewise with floatip's bulk detach as a
line, and floatip's attach cost over k = 1..S pods on one host.
"""

from __future__ import annotations

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLORS = {
    "recipe": "#d62728",
    "ip-batch": "#ff7f0e",
    "pyroute2": "#9467bd",
    "floatip": "#1f77b4",
    "floatip-py": "#17becf",
    "floor": "#2ca02c",
    "floor-min": "#7f7f7f",
}


def rolling(v: list[float], w: int) -> list[float]:
    out, s = [], 0.0
    for i, x in enumerate(v):
        s += x
        if i >= w:
            s -= v[i - w]
        out.append(s / min(i + 1, w))
    return out


def main() -> int:
    src, dst = sys.argv[1], sys.argv[2]
    with open(src) as f:
        r = json.load(f)
    methods = {k: v for k, v in r["methods"].items() if "setup_us_by_pod" in v}
    scale = r.get("scale") or {}
    ncols = 3 if scale else 2
    fig, axes = plt.subplots(1, ncols, figsize=(6 * ncols, 5), constrained_layout=True)

    ax = axes[0]
    for name, m in methods.items():
        y = [x / 1000 for x in m["setup_us_by_pod"]]
        ax.plot(range(1, len(y) + 1), y, label=f"{name} ({m['setup_us_per_pod'] / 1000:.2f} ms)",
                color=COLORS.get(name), lw=1)
    ax.set_yscale("log")
    ax.set_xlabel("pod number k")
    ax.set_ylabel("setup per pod, ms (log)")
    ax.set_title(f"setup, netns creation included\n({r['pods']} pods, median of {r['repetitions']} repetitions)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)

    ax = axes[1]
    for name, m in methods.items():
        y = [x / 1000 for x in m["teardown_us_by_pod"]]
        if y:
            ax.plot(range(1, len(y) + 1), y, label=f"{name} ({m['teardown_us_per_pod'] / 1000:.1f} ms)",
                    color=COLORS.get(name), lw=1)
    if scale:
        bulk = scale["detach_many_per_pod_us"] / 1000
        ax.axhline(bulk, color="black", ls="--", lw=1,
                   label=f"floatip detach_many, {scale['pods']} pods ({bulk:.2f} ms/pod)")
    ax.set_yscale("log")
    ax.set_xlabel("pod number k")
    ax.set_ylabel("teardown per pod, ms (log)")
    ax.set_title(f"teardown, one by one\n(median of {r.get('teardown_repetitions', r['repetitions'])} repetitions)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)

    if scale:
        ax = axes[2]
        n, w = scale["pods"], scale["window"]
        for key, label, color in (
            ("attach_us", "pass 1", "#aec7e8"),
            ("attach_second_pass_us", "pass 2", "#ffbb78"),
            ("attach_third_pass_us", "pass 3", "#98df8a"),
        ):
            if key not in scale:
                continue
            y = [x / 1000 for x in scale[key]]
            ax.plot(range(1, n + 1), rolling(y, w), color=color, lw=1.2, label=f"{label}, mean of {w}")
        y = [x / 1000 for x in scale["attach_median_us"]]
        ax.plot(range(1, n + 1), y, color="#1f77b4", lw=0.5, alpha=0.5, label="median of the passes, per pod")
        ax.plot(range(1, n + 1), rolling(y, w), color="#1f77b4", lw=2.5, label=f"median of the passes, mean of {w}")
        first, last = scale["attach_median_first_mean_us"] / 1000, scale["attach_median_last_mean_us"] / 1000
        ax.hlines([first], 1, w, colors="black", lw=2)
        ax.hlines([last], n - w + 1, n, colors="black", lw=2)
        ax.set_title(f"floatip attach on one host, k = 1..{n}\n"
                     f"median of 3 passes: last {w} / first {w} = "
                     f"{scale['attach_median_last_over_first']:.3f} (target <= 1.15)")
        ax.set_xlabel("pod number k (pods already attached: k - 1)")
        ax.set_ylabel("attach per pod, ms")
        top = sorted(scale["attach_median_us"])[int(0.99 * (n - 1))] / 1000
        ax.set_ylim(0, top * 1.5)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)

    fig.savefig(dst, dpi=110)
    print(f"wrote {dst}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
