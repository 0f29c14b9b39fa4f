#!/usr/bin/env bash
# Installs the JavaScript that the browser tests load into Chromium: Segment's browser SDK
# (@segment/analytics-next, pinned), unpacked from its npm tarball into .test-js/ (git-ignored;
# only package.json, the licence and the standalone UMD bundles in dist/umd are kept).
# tests/browser/test_segment_sdk.py drives it against a real collector. Idempotent: nothing
# is fetched when the pinned version is already there. Needs npm (Debian package `npm`).
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=1.84.3
DEST=.test-js/segment-analytics-next
if [ -f "$DEST/dist/umd/index.js" ] && grep -q "\"version\": \"$VERSION\"" "$DEST/package.json"; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "error: npm is needed to fetch @segment/analytics-next@$VERSION for the browser tests" \
       "(apt-get install -y npm)" >&2
  exit 1
fi
echo "fetching @segment/analytics-next@$VERSION from the npm registry (npm pack) into $DEST"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "@segment/analytics-next@$VERSION" >/dev/null)
rm -rf "$DEST"
mkdir -p "$DEST"
tar -xzf "$tmp/segment-analytics-next-$VERSION.tgz" -C "$DEST" --strip-components=1 \
  package/package.json package/LICENSE.MD package/dist/umd
