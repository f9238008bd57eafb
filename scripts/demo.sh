#!/usr/bin/env bash
# From a fresh machine to the system running: setup (idempotent), then the front started in the
# background against the traffic_analyzer database (plain HTTP on loopback port 8000, HTTPS on
# port 8443 with setup's local CA), and a demo capture replayed through the sensor into it over
# HTTPS with the demo sensor's token (once: a second run finds it stored), its windows
# materialized by the extension's scheduler. Run it again to restart the front.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUN_DIR=/run/traffic_analyzer
LOG_DIR=/var/log/traffic_analyzer
PID_FILE=$RUN_DIR/http_front.pid
LISTEN_ADDR=${LISTEN_ADDR:-127.0.0.1:8000}
TLS_LISTEN_ADDR=${TLS_LISTEN_ADDR:-127.0.0.1:8443}
TLS_DIR=/etc/traffic_analyzer/tls
DEMO_CAPTURE=${DEMO_CAPTURE:-$ROOT/../shared/pcaps/benign/telegram.pcap}

# shellcheck source=common.sh
. "$ROOT/scripts/common.sh"

"$ROOT/scripts/setup.sh"

mkdir -p "$RUN_DIR" "$LOG_DIR"
if [ -s "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
    step "stopping the running front (pid $(cat "$PID_FILE"))"
    kill -TERM "$(cat "$PID_FILE")"
    for _ in $(seq 1 100); do kill -0 "$(cat "$PID_FILE")" 2>/dev/null || break; sleep 0.1; done
fi

step "starting the front: http://$LISTEN_ADDR and https://$TLS_LISTEN_ADDR (log: $LOG_DIR/http_front.log)"
set -a
# shellcheck disable=SC1091
. /etc/traffic_analyzer/front.env
set +a
export LISTEN_ADDR TLS_LISTEN_ADDR TLS_CERT=$TLS_DIR/front.crt TLS_KEY=$TLS_DIR/front.key
nohup "$(target_dir)/release/http_front" >> "$LOG_DIR/http_front.log" 2>&1 &
echo $! > "$PID_FILE"

port=${LISTEN_ADDR##*:}
tls_port=${TLS_LISTEN_ADDR##*:}
SENSOR_TOKEN=$(cat /etc/traffic_analyzer/sensor.token)
admin_password=$(sed -n 's/^password=//p' /etc/traffic_analyzer/admin.credentials)
for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -fsS "http://127.0.0.1:$port/health"; echo

sql() { (cd / && sudo -u postgres psql -X -q -At -d traffic_analyzer "$@"); }
if [ -f "$DEMO_CAPTURE" ]; then
    stem=$(basename "${DEMO_CAPTURE%.*}")
    if [ "$(sql -c "SELECT count(*) FROM raw_packets WHERE interface = 'file:$stem'")" = 0 ]; then
        step "replaying the demo capture $DEMO_CAPTURE through the sensor (HTTPS, the demo sensor's token)"
        # Stamped as now (--start-at): the dashboard shows it live, and retention, which goes by
        # capture time, keeps it like today's traffic.
        "$(target_dir)/release/sensor" replay --quiet --name demo --front "https://localhost:$tls_port" \
            --token "$SENSOR_TOKEN" --ca-file "$TLS_DIR/ca.crt" --spool-dir "$RUN_DIR/sensor-spool" \
            --start-at now "$DEMO_CAPTURE"
    else
        step "demo capture $stem already stored"
    fi
    step "windows materialized by the scheduler (they close once no packet came for the allowed lateness)"
    range="ts >= (SELECT min(ts) FROM raw_packets WHERE interface = 'file:$stem')
           AND ts <= (SELECT max(ts) FROM raw_packets WHERE interface = 'file:$stem')"
    for _ in $(seq 1 60); do
        [ "$(sql -c "SELECT count(*) FROM window_progress
                     WHERE materialized_until > (SELECT max(ts) FROM raw_packets WHERE $range)")" = 3 ] && break
        sleep 1
    done
    sql -c "SELECT window_seconds || ' s windows: ' || count(*) FILTER (WHERE scope = 'global') || ' global rows, '
                   || count(*) FILTER (WHERE scope <> 'global') || ' host rows, '
                   || coalesce(sum(total_packets) FILTER (WHERE scope = 'global'), 0) || ' packets'
            FROM aggregated_features WHERE window_start >= (SELECT date_bin('180 s', min(ts), 'epoch') FROM raw_packets WHERE $range)
              AND window_start <= (SELECT max(ts) FROM raw_packets WHERE $range)
            GROUP BY window_seconds ORDER BY window_seconds"
fi
# An attack the shipped model has never seen (a held-back capture), to see an alert raised.
DEMO_ATTACK=${DEMO_ATTACK:-$ROOT/tests/captures/syn_flood-3.pcap.gz}
if [ -f "$DEMO_ATTACK" ]; then
    stem=$(basename "${DEMO_ATTACK%.gz}" .pcap)
    if [ "$(sql -c "SELECT count(*) FROM raw_packets WHERE interface = 'file:$stem'")" = 0 ]; then
        step "replaying a held-back attack capture ($stem) through the sensor"
        gunzip -c "$DEMO_ATTACK" > "$RUN_DIR/$stem.pcap"
        "$(target_dir)/release/sensor" replay --quiet --name demo --front "https://localhost:$tls_port" \
            --token "$SENSOR_TOKEN" --ca-file "$TLS_DIR/ca.crt" --spool-dir "$RUN_DIR/sensor-spool" \
            --start-at now "$RUN_DIR/$stem.pcap"
    fi
    step "alerts raised by the extension (the scheduler scores each window it closes)"
    for _ in $(seq 1 60); do
        [ "$(sql -c "SELECT count(*) FROM detected_alerts")" != 0 ] && break
        sleep 1
    done
    sql -c "SELECT severity || ' ' || alert_type || ', ' || coalesce(host(source_ip), '?') || ' -> '
                   || coalesce(host(destination_ip), '?') || ': ' || description
            FROM detected_alerts ORDER BY id DESC LIMIT 5"
fi

cat <<MSG

The traffic analyzer is running:
  dashboard     http://127.0.0.1:$port/  (or https://localhost:$tls_port/, CA $TLS_DIR/ca.crt)
                sign in as admin, password $admin_password  (kept in /etc/traffic_analyzer/admin.credentials)
  API           an API token: psql -d traffic_analyzer -Atc "SELECT create_api_token('admin', 'cli')"
                curl -H "Authorization: Bearer \$TOKEN" http://127.0.0.1:$port/api/last10   (document: /openapi.json)
  ingest        from this host without a token, as the original's sender does; other hosts need a
                sensor token (the demo sensor's: /etc/traffic_analyzer/sensor.token) over HTTPS
  database      psql -d traffic_analyzer   (extension traffic_analyzer, tables raw_packets, aggregated_features, detected_alerts, models)
  scheduler     SELECT pid, backend_type FROM pg_stat_activity WHERE backend_type = 'traffic_analyzer scheduler';
  stop          kill \$(cat $PID_FILE)
MSG
