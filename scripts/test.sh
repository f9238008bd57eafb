#!/usr/bin/env bash
# Every test, from a fresh machine: setup (idempotent), formatting and lints, the core's unit
# tests, the extension's tests inside PostgreSQL, the end-to-end tests (real front, real
# PostgreSQL with the extension installed), and the fuzz targets for a bounded time.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# shellcheck source=common.sh
. "$ROOT/scripts/common.sh"

./scripts/setup.sh

# Every test runner's output also goes to a log, totalled at the end.
results=$(mktemp)
trap 'rm -f "$results"' EXIT

step "XGBoost (test oracle)"
ensure_oracle_venv
export TA_ORACLE_PYTHON="$ORACLE_VENV/bin/python"

step "formatting and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

step "extension tests inside PostgreSQL (a throwaway cluster run as postgres)"
pgrx_dir=/var/tmp/traffic_analyzer-pgrx-test
mkdir -p "$pgrx_dir"
chown postgres "$pgrx_dir"
# The running cluster preloads the installed library: unlink it (its processes keep the mapped
# file) so the test build is written to a new file, not over the mapped one.
rm -f "$(/usr/lib/postgresql/15/bin/pg_config --pkglibdir)/traffic_analyzer.so"
(cd pg_extension && cargo pgrx test pg15 --runas postgres --pgdata "$pgrx_dir/data") 2>&1 | tee -a "$results"
# `cargo pgrx test` installed a test build of the extension; put the release build back.
./scripts/install_extension.sh

step "unit and end-to-end tests"
cargo test --workspace --exclude traffic_analyzer --locked 2>&1 | tee -a "$results"

step "fuzzing (each target for ${FUZZ_SECONDS:-30} s from the seed corpus)"
./scripts/fuzz.sh

step "summary"
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "tests: %d passed, %d failed\n", passed, failed }' "$results"
