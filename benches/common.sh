# shellcheck shell=bash
# Sourced by the harness scripts (compare.sh, churn.sh, failover.sh): what
# they all start with. Moves to the repository's root and sets
#   root     the repository
#   out      target/compare, where the results go
#   venv     target/compare/venv, the harness's own Python tools
#   cargo    $CARGO, or cargo
#   bin      the release binaries ($CARGO_TARGET_DIR/release, or target/release)
#   me       the script's name, for its messages
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
out=$root/target/compare
venv=$out/venv
cargo=${CARGO:-cargo}
bin=${CARGO_TARGET_DIR:-$root/target}/release
me=${0##*/}

# Exits unless root (the harnesses create network namespaces).
need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "$me: needs root (it creates network namespaces)" >&2
    exit 1
  fi
}

# need_tools TOOL...: exits when one is not on PATH.
need_tools() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "$me: $tool is missing (make deps installs it)" >&2; exit 1; }
  done
}

# venv_need MODULE=REQUIREMENT...: makes $venv when it is not there, and
# installs every REQUIREMENT (pinned or not) when one MODULE does not import
# in it. Never the system Python, never the binding's .venv.
venv_need() {
  local pair missing=0 want=()
  if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
  fi
  for pair in "$@"; do
    want+=("${pair#*=}")
    "$venv/bin/python" -c "import ${pair%%=*}" 2>/dev/null || missing=1
  done
  if [ "$missing" = 1 ]; then
    "$venv/bin/pip" install --quiet --disable-pip-version-check "${want[@]}"
  fi
}
