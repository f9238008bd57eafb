#!/usr/bin/env bash
# Builds the extension (release) and installs it into the system PostgreSQL 15.
# Files are replaced, never rewritten in place (a running backend may have the library mapped),
# and only when they differ, so a second run changes nothing. When the library changed and the
# running cluster preloads it (the scheduler), the cluster is restarted to run the new code.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
# shellcheck source=common.sh
. "$ROOT/scripts/common.sh"

package_dir="$(target_dir)/release/traffic_analyzer-pg15"
rm -rf "$package_dir"
(cd "$ROOT/pg_extension" && cargo pgrx package --pg-config "$PG_CONFIG" --out-dir "$package_dir")

# Full scripts of released versions (sql/archive), so CREATE EXTENSION ... VERSION of an older
# release works and the upgrade scripts can be tested from it.
cp "$ROOT"/sql/archive/traffic_analyzer--*.sql "$package_dir$("$PG_CONFIG" --sharedir)/extension/"

changed=0
while IFS= read -r -d '' file; do
    dest="/${file#"$package_dir"/}"
    if ! cmp -s "$file" "$dest"; then
        install -D -m 0644 "$file" "$dest.new.$$"
        mv -f "$dest.new.$$" "$dest"
        echo "installed $dest"
        changed=1
    fi
done < <(find "$package_dir" -type f -print0)
[ "$changed" = 1 ] || echo "extension files already up to date"

library="$("$PG_CONFIG" --pkglibdir)/traffic_analyzer.so"
if [ "$changed" = 1 ] && pg_lsclusters -h | awk '$1 == 15 && $2 == "main" {print $4}' | grep -q online; then
    loaded=$(cd / && sudo -u postgres psql -X -Atq -d postgres -c "SHOW shared_preload_libraries" 2>/dev/null || true)
    if printf ',%s,' "$loaded" | tr -d ' ' | grep -q ',traffic_analyzer,'; then
        echo "restarting PostgreSQL 15: it preloads $library, which changed"
        pg_ctlcluster --skip-systemctl-redirect 15 main restart
        for _ in $(seq 1 30); do pg_isready -q -h /var/run/postgresql && break; sleep 1; done
    fi
fi
