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
# The engine suites again with the state on PostgreSQL (one throwaway server; each test its own database).
read -r pg_url pg_dir < <(target/debug/pg-throwaway start)
trap 'target/debug/pg-throwaway stop "$pg_dir"' EXIT
set +e
PROVISIONER_TEST_POSTGRES="$pg_url" cargo test -p provisioner --no-fail-fast \
  --test e2e --test safety --test slack_paths --test results_binding --test hardening --test hostile --test ldap \
  2>&1 | sed 's/^test result:/test result (state on PostgreSQL):/' | tee target/test-output-postgres.txt
pg_status=${PIPESTATUS[0]}
set -e
[ "$status" -ne 0 ] || status=$pg_status
awk '/^test result/ { for (i = 1; i <= NF; i++) { if ($i == "passed;") p += $(i-1); if ($i == "failed;") f += $(i-1) } }
     END { printf "%d passed, %d failed\n", p, f }' target/test-output.txt target/test-output-postgres.txt
exit "$status"
