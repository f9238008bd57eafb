#!/usr/bin/env bash
# One command for the model: records the labelled captures (scripts/make_captures.sh, seeds 1-3),
# then trains with fixed seeds (models/trainer) and writes models/default.json and
# models/MODEL_CARD.md. SKIP_CAPTURES=1 reuses the captures already in CAPTURES.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# shellcheck source=common.sh
. "$ROOT/scripts/common.sh"
CAPTURES=${CAPTURES:-/var/cache/traffic_analyzer/captures}

ensure_oracle_venv
if [ "${SKIP_CAPTURES:-0}" != 1 ]; then
    step "labelled captures into $CAPTURES"
    SEEDS="1 2 3" ./scripts/make_captures.sh "$CAPTURES"
fi
step "training"
cargo run --release --locked -p trainer -- train --captures "$CAPTURES" --benign "$ROOT/../shared/pcaps/benign" \
    --model models/default.json --card models/MODEL_CARD.md
