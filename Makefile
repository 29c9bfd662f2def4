# floatip: `make demo` runs the floating-IP scenario, `make test` runs every test.
# Both need root (they create network namespaces) and install what they need.
SHELL := /bin/bash
CARGO ?= cargo
export RUST_BACKTRACE ?= 1

.PHONY: test test-kernel demo deps lint package unit bench compare fmt clean
N ?= 200

test: deps lint package
	tests/scripts/sweep-netns.sh
	$(CARGO) test --workspace --all-targets
	$(CARGO) test --workspace --doc
	tests/scripts/test-python.sh
	benches/compare.sh --smoke
	tests/scripts/test-kernel.sh $(KERNEL)
	tests/scripts/check-no-leftovers.sh

# The Rust integration suites in a VM booting another kernel (default:
# Debian's stock linux-image-amd64), twice: as booted and with
# ipv6.disable=1 (docs/testing.md). KERNEL=path/to/vmlinuz picks the image.
KERNEL ?=
test-kernel: deps
	tests/scripts/sweep-netns.sh
	tests/scripts/test-kernel.sh $(KERNEL)
	tests/scripts/check-no-leftovers.sh

demo: deps
	tests/scripts/sweep-netns.sh
	$(CARGO) run --quiet --release -p floatip-tests --bin demo

deps:
	tests/scripts/install-deps.sh

# The library as crates.io would take it (its packaged sources build on
# their own), and its documentation with every warning an error.
package:
	$(CARGO) package -p floatip --allow-dirty
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps -p floatip --all-features

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

bench: deps
	tests/scripts/sweep-netns.sh
	$(CARGO) bench -p floatip-benches
	tests/scripts/check-no-leftovers.sh

# floatip against the original recipe, ip -batch, pyroute2, the Python binding
# and a bare-socket floor, N pods each (docs/performance.md); then floatip-cni
# against the reference ptp plugin, a process per pod (docs/cni.md); then pod
# churn, W = 2 and 4 workers, ptp, floatip-cni, floatip and floatip from
# Python side by side, and a kept Host's detach latency (docs/performance.md,
# "Churn"; CHURN="--pods-per-worker 60" passes options).
CHURN ?=
compare: deps
	tests/scripts/sweep-netns.sh
	benches/compare.sh $(N)
	benches/cni-compare.sh $(N)
	benches/churn.sh --detach-pods $(N) $(CHURN)
	tests/scripts/check-no-leftovers.sh

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
