#!/usr/bin/env bash
# Idempotent setup, as root on Debian 12: packages, cargo-pgrx, a running PostgreSQL 15 cluster,
# the extension (release build) installed and created, the front's role, the front built.
# Works on a fresh machine (peer/password auth) and on one where PG15 already runs with trust auth.
# Running it again changes nothing.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PG_MAJOR=15
PG_CONFIG=/usr/lib/postgresql/$PG_MAJOR/bin/pg_config
PGRX_VERSION=0.18.0
DB_NAME=${TA_DATABASE:-traffic_analyzer}
CONF_DIR=/etc/traffic_analyzer
FRONT_ENV=$CONF_DIR/front.env
APT_PACKAGES=(postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR libclang-dev libpcap-dev sudo
              build-essential pkg-config curl ca-certificates openssl tshark python3-venv chromium chromium-driver)

[ "$(id -u)" = 0 ] || { echo "setup.sh: run as root (it installs packages and configures PostgreSQL)" >&2; exit 1; }
# shellcheck source=common.sh
. "$ROOT/scripts/common.sh"
command -v cargo >/dev/null || { echo "setup.sh: cargo not found; install Rust (rustup) first" >&2; exit 1; }

step "apt packages"
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
else
    echo "all present"
fi

step "cargo-pgrx $PGRX_VERSION"
if cargo pgrx --version 2>/dev/null | grep -q " $PGRX_VERSION\$"; then
    echo "present"
else
    cargo install cargo-pgrx --version "$PGRX_VERSION" --locked
fi
if grep -qs "^pg$PG_MAJOR = \"$PG_CONFIG\"" "${PGRX_HOME:-$HOME/.pgrx}/config.toml"; then
    echo "pgrx initialised for the system PostgreSQL $PG_MAJOR"
else
    cargo pgrx init --pg$PG_MAJOR "$PG_CONFIG"
fi

step "PostgreSQL $PG_MAJOR cluster"
if ! pg_lsclusters -h | awk -v v=$PG_MAJOR '$1 == v && $2 == "main"' | grep -q .; then
    pg_createcluster $PG_MAJOR main
fi
if ! pg_lsclusters -h | awk -v v=$PG_MAJOR '$1 == v && $2 == "main" {print $4}' | grep -q online; then
    pg_ctlcluster --skip-systemctl-redirect $PG_MAJOR main start
fi
PG_PORT=$(pg_lsclusters -h | awk -v v=$PG_MAJOR '$1 == v && $2 == "main" {print $3}')
for _ in $(seq 1 30); do pg_isready -q -h /var/run/postgresql -p "$PG_PORT" && break; sleep 1; done
pg_isready -h /var/run/postgresql -p "$PG_PORT"

# Superuser SQL through the local socket as the postgres OS user: peer or trust auth both allow it.
as_postgres() { (cd / && sudo -u postgres psql -X -q -v ON_ERROR_STOP=1 -p "$PG_PORT" "$@"); }

step "roles for root (tests, admin) and the database"
as_postgres -d postgres <<'SQL'
SELECT 'CREATE ROLE root SUPERUSER LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'root')
\gexec
SQL
if [ -z "$(as_postgres -d postgres -Atc "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'")" ]; then
    as_postgres -d postgres -c "CREATE DATABASE $DB_NAME"
fi

step "extension: release build, installed into PostgreSQL $PG_MAJOR"
"$ROOT/scripts/install_extension.sh"

step "scheduler: the extension preloaded, its background worker serving $DB_NAME"
preload=$(as_postgres -d postgres -Atc "SHOW shared_preload_libraries")
if ! printf ',%s,' "$preload" | tr -d ' ' | grep -q ',traffic_analyzer,'; then
    as_postgres -d postgres -c "ALTER SYSTEM SET shared_preload_libraries = '${preload:+$preload,}traffic_analyzer'"
    restart_needed=1
fi
# LOAD defines the extension's settings in this session, so ALTER SYSTEM knows them.
if [ "$(as_postgres -d postgres -At -c "LOAD 'traffic_analyzer'" -c "SHOW traffic_analyzer.databases")" != "$DB_NAME" ]; then
    as_postgres -d postgres -c "LOAD 'traffic_analyzer'" -c "ALTER SYSTEM SET traffic_analyzer.databases = '$DB_NAME'"
    restart_needed=1
fi
if [ "${restart_needed:-0}" = 1 ]; then
    pg_ctlcluster --skip-systemctl-redirect $PG_MAJOR main restart
    for _ in $(seq 1 30); do pg_isready -q -h /var/run/postgresql -p "$PG_PORT" && break; sleep 1; done
    echo "PostgreSQL restarted with traffic_analyzer preloaded"
else
    echo "already configured"
fi

step "CREATE EXTENSION traffic_analyzer in $DB_NAME"
as_postgres -d "$DB_NAME" <<'SQL'
CREATE EXTENSION IF NOT EXISTS traffic_analyzer;
SELECT 'ALTER EXTENSION traffic_analyzer UPDATE'
WHERE (SELECT extversion FROM pg_extension WHERE extname = 'traffic_analyzer')
   <> (SELECT default_version FROM pg_available_extensions WHERE name = 'traffic_analyzer')
\gexec
SQL

step "the shipped model (models/default.json) active in $DB_NAME"
# Loaded once: a model with the same JSON already stored is left as it is (so is a model of the
# DBA's own that is active).
# The JSON goes in on standard input, read here as root (the postgres user may not be able to read
# the checkout; a 1.4 MB model is too long for a command-line argument).
model_sql() {
    printf "WITH shipped AS (SELECT \$model\$"
    cat "$ROOT/models/default.json"
    printf "\$model\$::text AS json)\n"
    cat <<'SQL'
SELECT CASE
    WHEN EXISTS (SELECT FROM models WHERE name = 'default' AND model = shipped.json::jsonb)
    THEN 'default: this version is already loaded'
    ELSE 'loaded as models.id ' || load_model('default', shipped.json)
END FROM shipped;
SQL
}
model_sql | as_postgres -d "$DB_NAME" -At

step "the front's login role (traffic_ingest + traffic_reader + traffic_auth, nothing more)"
mkdir -p "$CONF_DIR"
if [ ! -s "$FRONT_ENV" ]; then
    password=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
    umask 077
    printf 'TA_FRONT_PASSWORD=%s\n' "$password" > "$FRONT_ENV"
fi
# shellcheck disable=SC1090
. "$FRONT_ENV"
as_postgres -d "$DB_NAME" -v pw="$TA_FRONT_PASSWORD" <<'SQL'
SELECT 'CREATE ROLE traffic_front LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'traffic_front')
\gexec
SELECT format('ALTER ROLE traffic_front PASSWORD %L', :'pw')
WHERE NOT EXISTS (SELECT FROM pg_authid WHERE rolname = 'traffic_front' AND rolpassword IS NOT NULL)
\gexec
GRANT traffic_ingest, traffic_reader, traffic_auth TO traffic_front;
-- The front's own limits on every session, whatever it asks for (it sets them too).
ALTER ROLE traffic_front SET statement_timeout = '30s';
ALTER ROLE traffic_front SET idle_in_transaction_session_timeout = '30s';
SQL
grep -q '^DATABASE_URL=' "$FRONT_ENV" || \
    printf 'DATABASE_URL=postgres://traffic_front:%s@127.0.0.1:%s/%s\n' "$TA_FRONT_PASSWORD" "$PG_PORT" "$DB_NAME" >> "$FRONT_ENV"

step "the first admin of the front, and a token for the demo sensor"
# Their secrets are made once and kept readable by root only.
umask 077
ADMIN_FILE=$CONF_DIR/admin.credentials
if [ ! -s "$ADMIN_FILE" ]; then
    printf 'user=admin\npassword=%s\n' "$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')" > "$ADMIN_FILE"
fi
admin_password=$(sed -n 's/^password=//p' "$ADMIN_FILE")
as_postgres -d "$DB_NAME" -v pw="$admin_password" <<'SQL'
\o /dev/null
SELECT create_front_user('admin', 'admin', :'pw') WHERE NOT EXISTS (SELECT FROM front_users WHERE name = 'admin');
SQL
SENSOR_TOKEN_FILE=$CONF_DIR/sensor.token
if [ ! -s "$SENSOR_TOKEN_FILE" ] || [ -z "$(as_postgres -d "$DB_NAME" -Atc \
        "SELECT authenticate_sensor('$(cat "$SENSOR_TOKEN_FILE")')")" ]; then
    as_postgres -d "$DB_NAME" -Atc "SELECT create_sensor_token('demo')" > "$SENSOR_TOKEN_FILE"
fi
echo "admin login in $ADMIN_FILE; the demo sensor's token in $SENSOR_TOKEN_FILE"

step "TLS: a local CA and the front's certificate (for the demo; bring your own in production)"
TLS_DIR=$CONF_DIR/tls
mkdir -p "$TLS_DIR"
if [ ! -s "$TLS_DIR/ca.crt" ] || [ ! -s "$TLS_DIR/front.key" ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
        -subj "/CN=traffic_analyzer local CA" -keyout "$TLS_DIR/ca.key" -out "$TLS_DIR/ca.crt" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$(hostname)" \
        -keyout "$TLS_DIR/front.key" -out "$TLS_DIR/front.csr" 2>/dev/null
    printf 'subjectAltName=DNS:localhost,DNS:%s,IP:127.0.0.1,IP:::1\nextendedKeyUsage=serverAuth\n' "$(hostname)" \
        > "$TLS_DIR/front.ext"
    openssl x509 -req -in "$TLS_DIR/front.csr" -CA "$TLS_DIR/ca.crt" -CAkey "$TLS_DIR/ca.key" -CAcreateserial \
        -days 825 -extfile "$TLS_DIR/front.ext" -out "$TLS_DIR/front.crt" 2>/dev/null
    rm -f "$TLS_DIR/front.csr" "$TLS_DIR/front.ext"
    chmod 0644 "$TLS_DIR/ca.crt" "$TLS_DIR/front.crt"
    echo "made $TLS_DIR/ca.crt and the front's certificate $TLS_DIR/front.crt"
else
    echo "present ($TLS_DIR)"
fi
umask 022

step "front and sensor (release build)"
cargo build --release --locked -p http_front -p sensor --manifest-path "$ROOT/Cargo.toml"

step "setup done"
