#!/usr/bin/env bash
# Builds and tests the Python binding (floatip-py), from a fresh machine on:
#   1. a virtualenv at .venv (created if missing) with maturin, pytest, mypy;
#   2. the extension built in release mode into that venv;
#   3. the pytest suite (root: it builds LANs out of network namespaces named
#      fipt-<pid>-<n>-<tag> and deletes them; "no tests ran" is a failure);
#   4. the example node agent, the tests and the bench with mypy --strict;
#   5. a wheel from `maturin build --release` (no test hooks): abi3
#      (cp39-abi3) and a manylinux tag that `auditwheel show` confirms,
#      installed into a fresh virtualenv outside the repository, imported
#      and smoke-tested, and the stubs checked against its module
#      (mypy.stubtest);
#   6. an sdist from `maturin sdist`, built into a wheel by pip (as a user
#      without a wheel for their platform would) and imported.
# Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
start=$SECONDS
step() { echo; echo "== test-python: $*"; }

# Debian tools the tests drive (a test that needs a tool never silently
# passes without it).
need=()
command -v ip >/dev/null || need+=(iproute2)
command -v ping >/dev/null || need+=(iputils-ping)
command -v conntrack >/dev/null || need+=(conntrack)
if [ ${#need[@]} -gt 0 ]; then
  step "apt-get install ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

step "virtualenv .venv"
[ -x .venv/bin/python ] || python3 -m venv .venv
export VIRTUAL_ENV=$root/.venv PATH=$root/.venv/bin:$PATH
python -m pip install -q --disable-pip-version-check -r floatip-py/requirements-dev.txt

step "maturin develop --release --features test-hooks"
# The test hooks (fault injection, `Host._attach_failing_at`) are for this
# build only; the wheel below is built without them.
maturin develop --release -q -m floatip-py/Cargo.toml --features test-hooks

step "pytest"
set +e
python -m pytest floatip-py/tests -q -p no:cacheprovider
rc=$?
set -e
if [ $rc -eq 5 ]; then
  echo "test-python: pytest collected no tests" >&2
  exit 1
elif [ $rc -ne 0 ]; then
  echo "test-python: pytest failed (exit $rc)" >&2
  exit $rc
fi

# Run the type checks from a directory outside the source tree, so that
# mypy finds the package once (installed), not also as a path.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

step "mypy --strict: the example node agent, the tests, the bench"
(cd "$work" && python -m mypy --strict --cache-dir "$work/.mypy_cache" "$root/floatip-py/examples/node_agent.py")
(cd "$work" && python -m mypy --strict --cache-dir "$work/.mypy_cache" "$root/floatip-py/tests" "$root/floatip-py/bench")

step "wheel: maturin build --release, install into a fresh venv, import"
maturin build --release -q -m floatip-py/Cargo.toml -o "$work/dist"
wheel=$(ls "$work"/dist/floatip-*.whl)
echo "built $(basename "$wheel")"
# One wheel for every CPython from 3.9 on (the stable ABI), for glibc
# Linux: the file name says so, and auditwheel, reading the extension's
# symbol versions and libraries, agrees.
case "$(basename "$wheel")" in
  *-cp39-abi3-manylinux_*_x86_64*.whl) ;;
  *) echo "test-python: $(basename "$wheel") is not a cp39-abi3 manylinux wheel" >&2; exit 1 ;;
esac
show=$(auditwheel show "$wheel")
echo "$show"
tag=$(basename "$wheel" | sed -E 's/.*-(manylinux_[0-9]+_[0-9]+_x86_64).*\.whl/\1/')
# (auditwheel wraps its lines: compare with the whitespace folded.)
folded=$(tr -s ' \n' '  ' <<<"$show")
[[ $folded == *"consistent with the following platform tag: \"$tag\""* ]] || {
  echo "test-python: auditwheel does not confirm $tag" >&2
  exit 1
}
# PEP 639: the SPDX expression and the license file, in the metadata and
# in the wheel.
python -c "import zipfile, sys; z = zipfile.ZipFile(sys.argv[1]); \
  m = z.read(next(n for n in z.namelist() if n.endswith('METADATA'))).decode(); \
  assert 'License-Expression: Apache-2.0' in m and 'License-File: LICENSE' in m, m; \
  assert any(n.endswith('licenses/LICENSE') for n in z.namelist()), z.namelist()" "$wheel"
python3 -m venv "$work/venv"
"$work/venv/bin/python" -m pip install -q --disable-pip-version-check "$wheel"
(cd "$work" && "$work/venv/bin/python" - <<'PY'
import ipaddress
import floatip
import floatip._floatip

assert floatip.__file__.startswith(__import__("sys").prefix), floatip.__file__
r = floatip.Route("10.0.0.100/23", gateway="10.0.0.1")
assert r.dst == ipaddress.ip_network("10.0.0.0/23")
f = floatip.FloatingIp("default/web-0", "up0", pod_netns_name="x", ipv4=("10.0.0.100/23", "10.0.0.1"))
assert f.host_ifname.startswith("fip")
try:
    floatip.FloatingIp("k", "up0", pod_netns_name="x", ipv4=("10.0.0.1/23", "10.0.0.1"))
except ValueError as e:
    assert isinstance(e, floatip.InvalidArgumentError) and isinstance(e, OSError)
else:
    raise AssertionError("invalid spec accepted")
import importlib.resources
assert importlib.resources.files("floatip").joinpath("py.typed").is_file()
assert importlib.resources.files("floatip").joinpath("_floatip.pyi").is_file()
assert not hasattr(floatip._floatip, "_exception_for"), "the wheel has no test hooks"
assert not hasattr(floatip.Host, "_attach_failing_at"), "the wheel has no test hooks"
print("wheel ok:", floatip.__version__, floatip._floatip.__file__)
PY
)

step "stubtest: the stubs against the wheel's module"
# Against the wheel (what users install), not the test build, whose test
# hooks the stubs do not declare.
"$work/venv/bin/python" -m pip install -q --disable-pip-version-check "$(grep '^mypy==' floatip-py/requirements-dev.txt)"
(cd "$work" && "$work/venv/bin/python" -m mypy.stubtest floatip --mypy-config-file "$root/floatip-py/pyproject.toml")

step "sdist: maturin sdist, then pip builds a wheel from it"
maturin sdist -m floatip-py/Cargo.toml -o "$work/sdist"
sdist=$(ls "$work"/sdist/floatip-*.tar.gz)
echo "built $(basename "$sdist")"
# (Listed to a file: `grep -q` in a pipe would close it early, and tar's
# SIGPIPE fail the pipeline.)
tar -tzf "$sdist" >"$work/sdist.txt"
grep -qx 'floatip-[0-9.]*/LICENSE' "$work/sdist.txt" || { echo "test-python: the sdist has no LICENSE" >&2; exit 1; }
# The build from the sdist shares this tree's cargo target directory, so
# that only the crates whose sources the sdist carries are compiled again.
CARGO_TARGET_DIR=$root/target "$work/venv/bin/python" -m pip wheel -q --disable-pip-version-check \
  --no-deps -w "$work/from-sdist" "$sdist"
"$work/venv/bin/python" -m pip install -q --disable-pip-version-check --force-reinstall "$work"/from-sdist/floatip-*.whl
(cd "$work" && "$work/venv/bin/python" -c 'import floatip; print("sdist ok:", floatip.__version__, floatip.Route("10.0.0.0/23"))')

echo
echo "test-python: all passed in $((SECONDS - start)) s"
