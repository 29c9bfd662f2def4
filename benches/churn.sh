#!/usr/bin/env bash
# Pod churn side by side (`make compare`, issue 16): W workers on one host
# namespace each creating a pod namespace, wiring the pod, unwiring it and
# deleting the namespace, with the reference ptp CNI plugin, floatip-cni
# (both a process per verb), floatip from Rust (threads on one kept Host)
# and from Python (threads on one kept floatip.Host); then the detach
# latency of a kept Host, tombstone against synchronous. All in network
# namespaces it creates (fipbench-<pid>-*) and deletes. See
# docs/performance.md, "Churn".
#
#   benches/churn.sh [--smoke] [harness options...]
#
#   --smoke     W=2, 3 pods per worker, one repetition, 5 pods for the
#               detach latency: a few seconds, exits non-zero if a method
#               fails or leaves anything behind
#   other options go to the harness (`compare churn --help`): --workers 2,4,
#   --pods-per-worker P, --reps R, --detach-pods N, --detach-reps D,
#   --methods ptp,floatip-cni,floatip,floatip-py,floatip-sync,netns (the
#   controls: floatip-sync detaches with detach_sync, netns only adds and
#   deletes the namespace), --cni-announce, --reap-pace MS,BATCH, --strict
#
# Needs root. Uses the repo's .venv for floatip from Python when it is
# there (tests/scripts/test-python.sh builds it; skipped if not), and
# /usr/lib/cni/ptp (tests/scripts/install-deps.sh; skipped if missing).
# Results: target/compare/churn.json.
set -euo pipefail
. "$(dirname "$0")/common.sh"

need_root
need_tools ip

"$cargo" build --quiet --release -p floatip-benches --bin compare
"$cargo" build --quiet --release -p floatip --features cni --bin floatip-cni
mkdir -p "$out"

"$bin/compare" churn --out "$out" \
  --cni-plugin "$bin/floatip-cni" \
  --floatip-python "$root/.venv/bin/python" \
  --worker "$root/benches/compare/worker.py" \
  "$@"
