#!/usr/bin/env bash
# Installs what `make test` / `make demo` use, only when missing, on a fresh
# Debian machine: the Debian tools the tests drive as independent peers and
# readers (the Python venv with maturin, pytest and mypy is made by
# tests/scripts/test-python.sh).
set -euo pipefail

need=()
command -v ip >/dev/null || need+=(iproute2)
command -v ping >/dev/null || need+=(iputils-ping)
command -v arping >/dev/null || need+=(iputils-arping)
command -v tcpdump >/dev/null || need+=(tcpdump)
command -v iptables >/dev/null || need+=(iptables)
command -v strace >/dev/null || need+=(strace)
# tests/conntrack.rs: the independent reader of the conntrack table.
command -v conntrack >/dev/null || need+=(conntrack)
# tests/cni.rs: the reference CNI plugins (IPAM, portmap, bandwidth,
# tuning), rootful podman with runc, and a static busybox for the image.
[ -x /usr/lib/cni/ptp ] || need+=(containernetworking-plugins)
command -v podman >/dev/null || need+=(podman)
command -v runc >/dev/null || need+=(runc)
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
# tests/topology.rs: the LAN gateway advertises routes with the real daemon.
command -v radvd >/dev/null || need+=(radvd)
if [ ${#need[@]} -gt 0 ]; then
  echo "install-deps: apt-get install ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# rustfmt and clippy ship with the toolchain here; add them if a toolchain lacks them.
cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
