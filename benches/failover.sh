#!/usr/bin/env bash
# Failover at scale (`make compare` runs it through benches/compare.sh): a
# node holding N pods fails and the pods come back on another node, with
# floatip's announcements, the write-up's arping recipe and no announcement
# side by side, all in network namespaces the harness creates
# (fipbench-<pid>-*) and deletes. See docs/announce.md, "Failover at scale".
#
#   benches/failover.sh [--smoke] [--scale] [--docs] [harness options...]
#
#   --smoke     N=8, one repetition (about half a minute): the code paths
#               run; exits non-zero when floatip or the recipe does not
#               converge. No plot.
#   --scale     N=1,000, the curve up to 1,000, the recipe cut off at 300 s
#   --docs      also copy the plot to docs/failover.png
#   other options go to the harness (benches/failover/main.rs, --help):
#   --pods N, --reps R, --sweep N,N,..., --methods a,b,..., --sample S,
#   --bound S, --recipe-bound S, --no-announce-bound S
#
# Needs root, and arping (iputils-arping, tests/scripts/install-deps.sh).
# The plot uses matplotlib from the comparison's venv (target/compare/venv,
# made as benches/compare.sh makes it). Results: target/compare/failover.json
# and target/compare/failover.png.
set -euo pipefail
. "$(dirname "$0")/common.sh"

smoke=0
docs=0
args=()
for a in "$@"; do
  case "$a" in
    --smoke) smoke=1; args+=("$a") ;;
    --docs) docs=1 ;;
    *) args+=("$a") ;;
  esac
done

need_root
need_tools ip arping

mkdir -p "$out"
"$cargo" build --quiet --release -p floatip-benches --bin failover
"$bin/failover" --out "$out" "${args[@]}"

if [ "$smoke" = 0 ]; then
  venv_need matplotlib=matplotlib
  "$venv/bin/python" "$root/benches/failover/plot.py" "$out/failover.json" "$out/failover.png"
  if [ "$docs" = 1 ]; then
    cp "$out/failover.png" "$root/docs/failover.png"
    echo "copied the plot to docs/failover.png"
  fi
fi
