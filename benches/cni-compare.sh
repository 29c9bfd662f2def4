#!/usr/bin/env bash
# floatip-cni against the reference ptp plugin, a process per pod as a
# runtime execs them (static IPAM through CNI_PATH, one announcement round
# for floatip-cni), N pods each, ADD then DEL (with ADD's result as
# prevResult), in namespaces only (a host
# namespace with an uplink; never the root namespace's interfaces).
# Prints medians and p99 of the wall time of each exec, in ms.
# Usage: benches/cni-compare.sh [N] [PLUGIN]   (PLUGIN: a floatip-cni binary,
# default target/release/floatip-cni, built if missing)
set -euo pipefail
N=${1:-200}
# ANNOUNCE='false' times floatip-cni without the announcement (and its
# AF_PACKET socket, whose close waits for an RCU grace period).
export ANNOUNCE=${ANNOUNCE:-'{"rounds":1}'}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PLUGIN=${2:-${CARGO_TARGET_DIR:-$ROOT/target}/release/floatip-cni}
[ -x "$PLUGIN" ] || cargo build --release -p floatip --features cni --bin floatip-cni >&2
[ -x /usr/lib/cni/ptp ] || { echo "containernetworking-plugins missing (tests/scripts/install-deps.sh)" >&2; exit 1; }
P=fipbench-$$
DIR=$(mktemp -d /tmp/$P-XXXX)
cleanup() {
  for ns in $(ip netns list | awk '{print $1}' | grep "^$P-" || true); do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$DIR"
}
trap cleanup EXIT
mkdir -p "$DIR/bin"
ln -s "$PLUGIN" "$DIR/bin/floatip-cni"
ip netns add "$P-host"
ip -n "$P-host" link add up0 type veth peer name up0p
ip -n "$P-host" link set up0 up
ip -n "$P-host" link set up0p up
ip -n "$P-host" addr add 10.0.0.2/16 dev up0

cat > "$DIR/run.sh" <<'INNER'
#!/usr/bin/env bash
# Runs inside the host namespace: N ADDs, then N DELs, of one plugin.
set -euo pipefail
kind=$1 n=$2 dir=$3 prefix=$4
export CNI_PATH="$dir/bin:/usr/lib/cni" CNI_IFNAME=eth0
now() { date +%s%N; }
conf() {
  local ip="10.0.$(( $1 / 250 + 1 )).$(( $1 % 250 + 2 ))"
  case $kind in
    floatip-cni) echo "{\"cniVersion\":\"1.0.0\",\"name\":\"bench\",\"type\":\"floatip-cni\",\"uplink\":\"up0\",\"announce\":$ANNOUNCE,\"ipam\":{\"type\":\"static\",\"addresses\":[{\"address\":\"$ip/16\",\"gateway\":\"10.0.0.1\"}]}}" ;;
    ptp) echo "{\"cniVersion\":\"1.0.0\",\"name\":\"bench\",\"type\":\"ptp\",\"ipMasq\":false,\"ipam\":{\"type\":\"static\",\"addresses\":[{\"address\":\"$ip/16\",\"gateway\":\"10.0.0.1\"}]}}" ;;
  esac
}
exe=$dir/bin/$kind; [ -x "$exe" ] || exe=/usr/lib/cni/$kind
for i in $(seq 0 $((n - 1))); do
  ip netns add "$prefix-$kind-$i"
done
for verb in ADD DEL; do
  for i in $(seq 0 $((n - 1))); do
    c=$(conf "$i")
    # DEL gets ADD's result as prevResult, as libcni hands it on.
    [ "$verb" = DEL ] && c="${c%\}},\"prevResult\":$(cat "$dir/res-$kind-$i")}"
    t0=$(now)
    CNI_COMMAND=$verb CNI_CONTAINERID="$kind$i" CNI_NETNS="/run/netns/$prefix-$kind-$i" "$exe" <<<"$c" >"$dir/out" || { cat "$dir/out" >&2; exit 1; }
    t1=$(now)
    [ "$verb" = ADD ] && cp "$dir/out" "$dir/res-$kind-$i"
    echo "$verb $(( (t1 - t0) / 1000 ))"
  done
done
for i in $(seq 0 $((n - 1))); do ip netns del "$prefix-$kind-$i"; done
INNER
chmod +x "$DIR/run.sh"

stats() { # verb file -> median p99 (ms)
  grep "^$1 " "$2" | awk '{print $2}' | sort -n | awk '{a[NR]=$1} END {m=a[int((NR+1)/2)]; p=a[int(NR*0.99+0.999)]; printf "%.2f %.2f", m/1000, p/1000}'
}
for kind in floatip-cni ptp; do
  nsenter --net="/run/netns/$P-host" "$DIR/run.sh" "$kind" "$N" "$DIR" "$P" >"$DIR/$kind.times"
done
printf "%-12s %-6s %10s %10s   (%s pods, process per pod, static IPAM)\n" plugin verb median_ms p99_ms "$N"
for kind in floatip-cni ptp; do
  for verb in ADD DEL; do
    read -r m p <<<"$(stats $verb "$DIR/$kind.times")"
    printf "%-12s %-6s %10s %10s\n" "$kind" "$verb" "$m" "$p"
    eval "${kind//-/_}_${verb}=$m"
  done
done
awk -v a="$floatip_cni_ADD" -v b="$ptp_ADD" -v c="$floatip_cni_DEL" -v d="$ptp_DEL" \
  'BEGIN {printf "floatip-cni/ptp: ADD %.2fx (target <= 0.30x), DEL %.2fx (target <= 0.90x)\n", a/b, c/d}'
