#!/usr/bin/env bash
# The one command that runs every test: the Rust suites, the C host under valgrind, the Java/JNA host,
# the end-to-end tests against slack-sim. Builds the workspace once.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
export RUST_BACKTRACE=0
# Tests load the cdylibs (connectors) from target/debug, so build every package first.
cargo build --workspace --all-targets
cargo test --workspace --no-fail-fast
