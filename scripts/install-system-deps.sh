#!/usr/bin/env bash
# Installs the system packages the test suite drives for real: Chromium (browser tests,
# through the playwright pip package, never `playwright install`), PostgreSQL (tests
# create a throwaway cluster with initdb) and npm (to fetch Segment's browser SDK, which a
# browser test runs against the collector: scripts/install-test-js.sh, called at the end).
# Java (for Spark) must already be present.
set -euo pipefail
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
need=()
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || need+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v java >/dev/null 2>&1 || need+=(openjdk-17-jre-headless)
command -v npm >/dev/null 2>&1 || need+=(npm)
if [ "${#need[@]}" -gt 0 ]; then
  echo "installing system packages: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
bash "$(dirname "$0")/install-test-js.sh"
