#!/usr/bin/env bash
# The fuzz targets (fuzz/fuzz_targets, cargo-fuzz with libFuzzer on the nightly toolchain), each
# for FUZZ_SECONDS (default 30), starting from the checked-in seed corpus (fuzz/corpus, made by
# `cargo run -p sensor --example fuzz_seeds -- ../shared/pcaps/benign/*.pcap`). New inputs go to
# a scratch copy, never into the checkout. Fails on the first crash, leak, timeout or
# out-of-memory; the input that did it is in fuzz/artifacts/<target>/.
#
#   ./scripts/fuzz.sh                         # every target, 30 s each (what CI runs)
#   FUZZ_SECONDS=3600 ./scripts/fuzz.sh batch_decoder   # a longer run of one
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=common.sh
. "$ROOT/scripts/common.sh"

SECONDS_EACH=${FUZZ_SECONDS:-30}
CARGO_FUZZ_VERSION=0.13.2
if ! cargo fuzz --version 2>/dev/null | grep -q " $CARGO_FUZZ_VERSION\$"; then
    cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal

# Instrumented builds share nothing with the others: a target directory of their own, beside them.
target=$(target_dir)/fuzz
cd "$ROOT/fuzz"
mapfile -t targets < <(if [ $# -gt 0 ]; then printf '%s\n' "$@"; else cargo +nightly fuzz list; fi)
if [ $# -gt 0 ]; then
    for t in "${targets[@]}"; do cargo +nightly fuzz build -O --target-dir "$target" "$t"; done
else
    cargo +nightly fuzz build -O --target-dir "$target"
fi

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for t in "${targets[@]}"; do
    mkdir -p "$scratch/$t"
    step "fuzzing $t for $SECONDS_EACH s"
    status=0
    cargo +nightly fuzz run -O --target-dir "$target" "$t" "$scratch/$t" "corpus/$t" -- \
        -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        > "$scratch/$t.log" 2>&1 || status=$?
    grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb|SUMMARY)|panicked|ERROR: libFuzzer' "$scratch/$t.log" || true
    if [ "$status" != 0 ]; then
        tail -40 "$scratch/$t.log" >&2
        echo "fuzz target $t failed (exit $status); its input is in fuzz/artifacts/$t/" >&2
        exit 1
    fi
done
echo "fuzzing: ${#targets[@]} targets, $SECONDS_EACH s each, no crash"
