#!/usr/bin/env bash
# Builds the extension (release) and installs it into the system PostgreSQL 15.
# Files are replaced, never rewritten in place (a running backend may have the library mapped),
# and only when they differ, so a second run changes nothing.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
# shellcheck source=common.sh
. "$ROOT/scripts/common.sh"

package_dir="$(target_dir)/release/traffic_analyzer-pg15"
rm -rf "$package_dir"
(cd "$ROOT/pg_extension" && cargo pgrx package --pg-config "$PG_CONFIG" --out-dir "$package_dir")

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
