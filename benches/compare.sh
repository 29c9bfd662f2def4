#!/usr/bin/env bash
# The side-by-side performance harness (`make compare`): floatip against the
# original one-`ip`-per-step recipe, `ip -batch`, pyroute2, floatip's Python
# binding and a bare-socket floor, all in network namespaces it creates
# (fipbench-<pid>-*) and deletes. See docs/performance.md.
#
#   benches/compare.sh [N] [--smoke] [--docs] [harness options...]
#
#   N           pods per method (default 200); same as --pods N
#   --smoke     N=5, one repetition, small scale/announce phases, no plot:
#               a quick check (well under a minute) that every method still
#               runs and builds the same kernel state; exits non-zero if not.
#               Then `benches/churn.sh --smoke` (a few seconds), the churn
#               comparison's tiny run
#   --docs      also copy the plot to docs/compare.png (and docs/failover.png)
#   --failover-scale  the failover phase at N=1,000 (benches/failover.sh --scale)
#   --no-failover     skip the failover phase
#   other options go to the harness (benches/compare/main.rs): --reps R,
#   --teardown-reps T, --paired-reps P, --scale S, --announce-ips A,
#   --methods a,b,..., --strict (fail when a performance target is missed)
#
# Needs root. Creates target/compare/venv (pyroute2, and matplotlib for the
# plot) from PyPI the first time; uses the repo's .venv for the floatip
# Python binding when it is there (the method is reported as skipped if not).
# Results: target/compare/results.json and target/compare/compare.png.
set -euo pipefail
. "$(dirname "$0")/common.sh"

smoke=0
docs=0
failover=1
failover_args=()
args=()
prev=
for a in "$@"; do
  case "$prev" in
    # The value of an option that takes one passes through as it is.
    --reps|--teardown-reps|--paired-reps|--scale|--announce-ips|--methods|--pods|--out)
      args+=("$a"); prev=; continue ;;
  esac
  case "$a" in
    --smoke) smoke=1; args+=("$a") ;;
    --docs) docs=1 ;;
    --failover-scale) failover_args+=(--scale) ;;
    --no-failover) failover=0 ;;
    ''|*[!0-9]*) args+=("$a") ;;
    *) args+=(--pods "$a") ;;
  esac
  prev=$a
done

need_root
need_tools ip bash python3

# Python tools for the pyroute2 method and the plot, pinned, in a venv of
# the harness's own (never the system Python, never the binding's .venv).
mkdir -p "$out"
want=(pyroute2=pyroute2==0.9.7)
[ "$smoke" = 1 ] || want+=(matplotlib=matplotlib)
venv_need "${want[@]}"

"$cargo" build --quiet --release -p floatip-benches --bin compare

floatip_python=$root/.venv/bin/python
"$bin/compare" --out "$out" \
  --pyroute2-python "$venv/bin/python" \
  --floatip-python "$floatip_python" \
  --worker "$root/benches/compare/worker.py" \
  "${args[@]}"

if [ "$smoke" = 1 ]; then
  # The churn comparison's code path too, tiny (benches/churn.sh).
  "$root/benches/churn.sh" --smoke
fi

# Failover at scale: a node's pods come back on another node, floatip's
# announcements against the write-up's arping and none (benches/failover.sh).
if [ "$failover" = 1 ]; then
  if [ "$smoke" = 1 ]; then
    "$root/benches/failover.sh" --smoke
  else
    [ "$docs" = 1 ] && failover_args+=(--docs)
    "$root/benches/failover.sh" ${failover_args[@]+"${failover_args[@]}"}
  fi
fi

if [ "$smoke" = 0 ]; then
  "$venv/bin/python" "$root/benches/compare/plot.py" "$out/results.json" "$out/compare.png"
  if [ "$docs" = 1 ]; then
    cp "$out/compare.png" "$root/docs/compare.png"
    echo "copied the plot to docs/compare.png"
  fi
fi
