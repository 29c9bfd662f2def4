#!/usr/bin/env bash
# The kernel lane (`make test-kernel [KERNEL=path/to/vmlinuz]`, and the last
# part of `make test`): floatip's Rust integration suites (the test binaries
# of the floatip-tests package) inside a VM that boots another kernel than
# the host's, by default Debian's stock `linux-image-amd64` (Debian 12: 6.1),
# through qemu with the host's file system shared read-only (virtme-ng) and
# the cargo target dir shared read-write. See docs/testing.md.
#
#   tests/scripts/test-kernel.sh [KERNEL]     (or KERNEL=... in the environment)
#
# Boots, each running the suites with `--test-threads 2`:
#   default         every suite; 8021q and bonding loaded when the kernel has
#                   them as modules, and then required by the tests
#   ipv6.disable=1  the IPv4 tests; the IPv6 tests are skipped by name (the
#                   list below, printed with the reason)
#
# Installs on a fresh machine, only when missing: qemu-system-x86, busybox
# (virtme-ng builds its initramfs from it), linux-image-amd64 (when no
# KERNEL is given and /boot has no Debian kernel), and virtme-ng in a venv of
# its own (.venv-vng). KVM is tried once (a 'true' boot) and software
# emulation (TCG) used when it fails. A VM that does not boot or a suite that
# fails is a failure (non-zero exit), never a skip. The log ends with a
# summary: per kernel and boot, each suite's pass count.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
start=$SECONDS
cargo=${CARGO:-cargo}
venv=$root/.venv-vng
out=$root/target/kernel-lane
step() { echo; echo "== test-kernel: $*"; }
fail() { echo "test-kernel: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || fail "needs root (the suites create network namespaces; qemu may need /dev/kvm)"

kernel=${1:-${KERNEL:-}}

# Debian packages, only when missing (apt-get update once, first).
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v busybox >/dev/null || need+=(busybox-static)
if [ -z "$kernel" ] && ! compgen -G '/boot/vmlinuz-*-amd64' >/dev/null; then
  need+=(linux-image-amd64)
fi
if [ ${#need[@]} -gt 0 ]; then
  step "apt-get install ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The default kernel: the newest image of Debian's kernel package.
if [ -z "$kernel" ]; then
  kernel=$(ls /boot/vmlinuz-*-amd64 | sort -V | tail -n 1)
fi
[ -r "$kernel" ] || fail "kernel image $kernel not found"
kver=$(basename "$kernel"); kver=${kver#vmlinuz-}

# virtme-ng, pinned, in its own venv (never the system Python).
if [ ! -x "$venv/bin/vng" ]; then
  step "virtualenv .venv-vng with virtme-ng"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check virtme-ng==1.42
fi
# vng runs virtme-run from PATH.
export PATH=$venv/bin:$PATH

# The suites, by exact path: cargo's JSON names each test executable (a
# glob over target/debug/deps would also match cargo's .d files).
step "cargo test -p floatip-tests --no-run"
mkdir -p "$out"
"$cargo" test -p floatip-tests --no-run --message-format=json >"$out/build.json"
python3 - "$out/build.json" >"$out/suites" <<'PY'
import json, sys
seen = {}
for line in open(sys.argv[1]):
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["test"]:
        seen[m["target"]["name"]] = m["executable"]
order = ["core", "floating", "announce", "uplinks", "topology", "lifecycle", "demo_runs"]
for name in sorted(seen, key=lambda n: (order.index(n) if n in order else len(order), n)):
    print(name, seen[name])
PY
[ -s "$out/suites" ] || fail "cargo listed no test executables"
target_dir=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])' \
  < <("$cargo" metadata --format-version 1 --no-deps))

# IPv6 tests, skipped by name in the ipv6.disable=1 boot: each needs IPv6
# addresses, routes, proxy entries or sysctls, which that kernel does not
# have (no /proc/sys/net/ipv6; IPv6 netlink requests fail with EOPNOTSUPP).
# floating's dual_stack_routed_mode runs there and expects the typed
# NotSupported of an IPv6 attach.
skip_v6=(
  "core addresses_v4_v6"
  "core routes_host_default_table_protocol"
  "core neighbours_permanent_and_proxy"
  "core sysctl_lands_in_its_own_netns"
  "floating bridge_mode_dual_stack_reattach"
  "announce unsolicited_na_switches_the_ipv6_peer"
  "announce tcpdump_sees_the_frames"
  "cni chained_with_portmap_bandwidth_and_tuning"
  "topology ipv6_attach_keeps_the_nodes_router_advertisements"
  "probe_conflict an_ipv6_zombie_fails_the_attach_and_changes_nothing"
)

# What runs inside the guest: one line per suite, "<name> <path> [--skip X]...".
write_plan() { # $1 = boot name
  local plan=$out/plan-$1
  : >"$plan"
  while read -r name path; do
    # FLOATIP_LANE_SUITES="uplinks topology" runs only those (development;
    # `make test` runs them all).
    if [ -n "${FLOATIP_LANE_SUITES:-}" ] && [[ " $FLOATIP_LANE_SUITES " != *" $name "* ]]; then
      continue
    fi
    local args=()
    if [ "$1" = noipv6 ]; then
      for s in "${skip_v6[@]}"; do
        [ "${s%% *}" = "$name" ] && args+=(--skip "${s#* }")
      done
      # Names match whole, not as substrings.
      [ ${#args[@]} -eq 0 ] || args+=(--exact)
    fi
    # The demo is IPv4 only and told once, in the default boot: the lane's
    # time budget (12 min on 2 cores) has no room for it twice.
    [ "$1" = noipv6 ] && [ "$name" = demo_runs ] && continue
    # The lifecycle suite (marks, locks, GC, the watcher) does not depend on
    # IPv6 being there, and its stress tests are long under emulation: the
    # default boot only.
    [ "$1" = noipv6 ] && [ "$name" = lifecycle ] && continue
    echo "$name $path ${args[*]}" >>"$plan"
  done <"$out/suites"
}

# The guest's side: load the modules the uplink tests need when the kernel
# has them (then the tests must not settle for "not supported"), run each
# suite with its normal cargo-test output, keep each suite's output for the
# summary. Runs as root in the guest, with the host's / read-only, its own
# tmpfs /run (so /run/netns is the guest's) and the target dir read-write.
cat >"$out/guest.sh" <<'GUEST'
#!/bin/bash
set -u
boot=$1 out=$2
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin RUST_BACKTRACE=1
has=()
for m in 8021q bonding nf_conntrack; do
  if modprobe -q "$m" 2>/dev/null; then has+=("$m"); fi
done
FLOATIP_TEST_KERNEL_HAS=$(IFS=,; echo "${has[*]}")
export FLOATIP_TEST_KERNEL_HAS
# Under software emulation the stress tests (the same-IP race, SIGKILL
# mid-attach) run a fifth of their rounds: the host run does them all.
export FLOATIP_TEST_ROUNDS_DIVISOR=5
echo "guest: kernel $(uname -r), cmdline: $(cat /proc/cmdline | tr ' ' '\n' | grep -E '^ipv6' || echo default)," \
  "modules loaded: ${FLOATIP_TEST_KERNEL_HAS:-none}, IPv6: $([ -d /proc/sys/net/ipv6 ] && echo yes || echo no)"
rc=0
while read -r name path args; do
  echo
  echo "== guest $boot: $name $args"
  t0=$(date +%s)
  # shellcheck disable=SC2086
  "$path" --test-threads 2 $args 2>&1 | tee "$out/result-$boot-$name.log"
  r=${PIPESTATUS[0]}
  echo "$r $(( $(date +%s) - t0 ))" >"$out/rc-$boot-$name"
  [ "$r" -eq 0 ] || rc=1
done <"$out/plan-$boot"
exit $rc
GUEST
chmod +x "$out/guest.sh"

vng_base=(vng --cpus 2 --memory 2G --run "$kernel" --user root --rwdir "$target_dir")

# KVM once, quickly; software emulation when it fails (seen here: qemu stops
# with "failed to set MSR 0x10a" under nested virtualisation).
accel=(--disable-kvm)
accel_name=TCG
if [ -w /dev/kvm ]; then
  step "probe: boot with KVM"
  # (set -o pipefail: the pipeline fails when the boot does.)
  if timeout 60 "${vng_base[@]}" --exec true </dev/null 2>&1 | cat >"$out/kvm-probe.log"; then
    accel=()
    accel_name=KVM
  else
    echo "KVM boot failed ($(tail -n 2 "$out/kvm-probe.log" | tr '\n' ' ')): software emulation"
  fi
fi

summary=()
status=0
run_boot() { # $1 = boot name, $2... = extra kernel command line
  local boot=$1; shift
  local append=()
  for a in "$@"; do append+=(--append "$a"); done
  write_plan "$boot"
  rm -f "$out"/rc-"$boot"-* "$out"/result-"$boot"-* "$out/vm-rc-$boot"
  step "boot $boot: kernel $kver ($accel_name) ${*:-}"
  local t0=$SECONDS rc=0
  # Through a pipe: qemu truncates a stdout that is a regular file, which
  # would eat what this script wrote to the same log before.
  {
    local r=0
    timeout 1200 "${vng_base[@]}" "${accel[@]}" "${append[@]}" \
      --exec "$out/guest.sh $boot $out" </dev/null 2>&1 || r=$?
    echo "$r" >"$out/vm-rc-$boot"
  } | cat
  rc=$(cat "$out/vm-rc-$boot" 2>/dev/null || echo 1)
  local line="kernel $kver boot ${*:-default}:"
  local parts=()
  while read -r name _; do
    local log=$out/result-$boot-$name.log
    if [ ! -f "$out/rc-$boot-$name" ]; then
      parts+=("$name DID NOT RUN")
      status=1
      continue
    fi
    local res
    res=$(grep -E '^test result:' "$log" | tail -n 1 || true)
    local passed failed filtered
    passed=$(sed -nE 's/.* ([0-9]+) passed.*/\1/p' <<<"$res")
    failed=$(sed -nE 's/.* ([0-9]+) failed.*/\1/p' <<<"$res")
    filtered=$(sed -nE 's/.* ([0-9]+) filtered out.*/\1/p' <<<"$res")
    local p="$name ${passed:-0} passed"
    [ "${failed:-0}" = 0 ] || p+=", ${failed} FAILED"
    [ "${filtered:-0}" = 0 ] || p+=" (${filtered} skipped)"
    [ -n "$res" ] || p="$name NO RESULT"
    read -r r secs <"$out/rc-$boot-$name"
    p+=" [${secs}s]"
    [ "$r" = 0 ] && [ -n "$res" ] || status=1
    parts+=("$p")
  done <"$out/plan-$boot"
  [ "$rc" = 0 ] || status=1
  local joined
  joined=$(printf '%s, ' "${parts[@]}"); joined=${joined%, }
  summary+=("$line $joined; vm exit $rc, $((SECONDS - t0)) s")
}

run_boot default
run_boot noipv6 ipv6.disable=1

echo
echo "== test-kernel: summary ($accel_name, $((SECONDS - start)) s in all)"
for l in "${summary[@]}"; do echo "$l"; done
echo "skipped in boot ipv6.disable=1 (IPv6 tests; that kernel has no IPv6):"
for s in "${skip_v6[@]}"; do echo "  $s"; done
echo "  demo_runs (IPv4, run in the default boot only)"
echo "  lifecycle (run in the default boot only, its stress tests at a fifth of their rounds)"
if [ "$status" -ne 0 ]; then
  echo "test-kernel: FAILED (a VM did not boot, a suite did not run, or a test failed)" >&2
  exit 1
fi
echo "test-kernel: all suites passed"
