#!/usr/bin/env bash
# Refreshes the front-end packages vendored into http_front/assets/vendor from the npm registry
# (versions pinned in http_front/assets/package.json). The front serves them from its binary.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ASSETS=$ROOT/http_front/assets
version=$(sed -n 's/.*"chart.js": "\([^"]*\)".*/\1/p' "$ASSETS/package.json")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "chart.js@$version" > /dev/null && tar xzf "chart.js-$version.tgz")
mkdir -p "$ASSETS/vendor/chart.js"
cp "$work/package/dist/chart.umd.min.js" "$work/package/LICENSE.md" "$ASSETS/vendor/chart.js/"
echo "chart.js $version vendored into $ASSETS/vendor/chart.js"
