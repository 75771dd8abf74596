#!/usr/bin/env bash
# The one command that runs every test: the Rust suites, the C host under valgrind, the Java/JNA host,
# the end-to-end tests against slack-sim. Builds the workspace once. Ends with the total line.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
export RUST_BACKTRACE=0
# Tests load the cdylibs (connectors) from target/debug, so build every package first.
cargo build --workspace --all-targets
mkdir -p target
set +e
cargo test --workspace --no-fail-fast 2>&1 | tee target/test-output.txt
status=${PIPESTATUS[0]}
set -e
awk '/^test result:/ { p += $4; f += $6 } END { printf "%d passed, %d failed\n", p, f }' target/test-output.txt
exit "$status"
