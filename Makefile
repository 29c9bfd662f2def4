# floatip: `make demo` runs the floating-IP scenario, `make test` runs every test.
# Both need root (they create network namespaces) and install what they need.
SHELL := /bin/bash
CARGO ?= cargo
export RUST_BACKTRACE ?= 1

.PHONY: test demo deps lint unit bench fmt clean

test: deps lint
	./scripts/sweep-netns.sh
	$(CARGO) test --workspace --all-targets
	$(CARGO) test --workspace --doc
	./scripts/test-python.sh
	./scripts/check-no-leftovers.sh

demo: deps
	./scripts/sweep-netns.sh
	$(CARGO) run --quiet --release -p floatip-tests --bin demo

deps:
	./scripts/install-deps.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

bench: deps
	./scripts/sweep-netns.sh
	$(CARGO) bench -p floatip-benches
	./scripts/check-no-leftovers.sh

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
