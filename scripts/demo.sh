#!/usr/bin/env bash
# From a fresh machine to the system running: setup (idempotent), then the front started in the
# background on port 8000 against the traffic_analyzer database. Run it again to restart the front.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUN_DIR=/run/traffic_analyzer
LOG_DIR=/var/log/traffic_analyzer
PID_FILE=$RUN_DIR/http_front.pid
LISTEN_ADDR=${LISTEN_ADDR:-0.0.0.0:8000}

# shellcheck source=common.sh
. "$ROOT/scripts/common.sh"

"$ROOT/scripts/setup.sh"

mkdir -p "$RUN_DIR" "$LOG_DIR"
if [ -s "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
    step "stopping the running front (pid $(cat "$PID_FILE"))"
    kill -TERM "$(cat "$PID_FILE")"
    for _ in $(seq 1 100); do kill -0 "$(cat "$PID_FILE")" 2>/dev/null || break; sleep 0.1; done
fi

step "starting the front on $LISTEN_ADDR (log: $LOG_DIR/http_front.log)"
set -a
# shellcheck disable=SC1091
. /etc/traffic_analyzer/front.env
set +a
export LISTEN_ADDR
nohup "$(target_dir)/release/http_front" >> "$LOG_DIR/http_front.log" 2>&1 &
echo $! > "$PID_FILE"

port=${LISTEN_ADDR##*:}
for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -fsS "http://127.0.0.1:$port/health"; echo
cat <<MSG

The traffic analyzer is running:
  front         http://127.0.0.1:$port/  (POST /ingest_packets, GET /health, GET /api/raw_packets/last/{count})
  database      psql -d traffic_analyzer   (extension traffic_analyzer, tables raw_packets, aggregated_features, detected_alerts, models)
  stop          kill \$(cat $PID_FILE)
MSG
