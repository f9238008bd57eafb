#!/usr/bin/env bash
# One command for the model: records the labelled captures (scripts/make_captures.sh, seeds 1-5;
# seed 3 is held back, seed 2 stops early), trains with fixed seeds (models/trainer), writes
# models/default.json and models/MODEL_CARD.md, and the detection test's held-back captures
# (tests/captures). SKIP_CAPTURES=1 reuses the captures already in CAPTURES.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# shellcheck source=common.sh
. "$ROOT/scripts/common.sh"
CAPTURES=${CAPTURES:-/var/cache/traffic_analyzer/captures}

ensure_oracle_venv
if [ "${SKIP_CAPTURES:-0}" != 1 ]; then
    step "labelled captures into $CAPTURES"
    SEEDS="1 2 3 4 5" ./scripts/make_captures.sh "$CAPTURES"
fi
step "training"
cargo run --release --locked -p trainer -- train --captures "$CAPTURES" --benign "$ROOT/../shared/pcaps/benign" \
    --model models/default.json --card models/MODEL_CARD.md
step "held-back captures for the detection test (tests/captures)"
cargo run --release --locked -p trainer -- fixtures --captures "$CAPTURES" --out tests/captures
