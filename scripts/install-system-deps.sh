#!/usr/bin/env bash
# The system packages the test suite drives for real, installed with apt when missing:
#   chromium                 the browser tests (tests/browser) run the dashboard in a real
#                            Chromium through the playwright pip package (never
#                            `playwright install`, which downloads its own browser)
#   postgresql               the PostgreSQL warehouse tests create a throwaway cluster with
#                            initdb/pg_ctl (the server binaries; no system cluster is used)
#   openjdk-17-jre-headless  Spark in local mode (the Spark warehouse tests) needs Java
#   npm                      fetches Segment's browser SDK (npm pack, pinned), which a
#                            browser test runs against the collector (install-test-js.sh)
# Nothing is installed when all four are present. Installing needs root, or sudo, and apt
# (Debian/Ubuntu); without them the script says what to install and exits 1.
# Called by `make setup-test` (and so by `make test` and CI).
set -euo pipefail

declare -A why=(
  [chromium]="browser tests drive a real Chromium (tests/browser)"
  [postgresql]="PostgreSQL warehouse tests start a throwaway cluster with initdb"
  [openjdk-17-jre-headless]="Spark warehouse tests run Spark in local mode (Java)"
  [npm]="fetches Segment's browser SDK for a browser test (scripts/install-test-js.sh)"
)
need=()
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || need+=(chromium)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
command -v java >/dev/null 2>&1 || need+=(openjdk-17-jre-headless)
command -v npm >/dev/null 2>&1 || need+=(npm)

if [ "${#need[@]}" -eq 0 ]; then
  echo "system packages for the tests: chromium, postgresql, java and npm are installed"
  exec bash "$(dirname "$0")/install-test-js.sh"
fi

echo "The test suite needs these system packages, which are missing:"
for pkg in "${need[@]}"; do
  printf '  %-24s %s\n' "$pkg" "${why[$pkg]}"
done

fail() {
  echo "error: $1" >&2
  echo "Install them yourself, then run make again:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y ${need[*]}" >&2
  echo "(other systems: the same packages from your package manager)" >&2
  exit 1
}

command -v apt-get >/dev/null 2>&1 || fail "no apt-get here to install ${need[*]}"
SUDO=()
if [ "$(id -u)" != "0" ]; then
  command -v sudo >/dev/null 2>&1 || fail "installing needs root or sudo, and there is no sudo"
  if ! sudo -n true 2>/dev/null; then
    if [ -t 0 ]; then
      echo "sudo will ask for your password to run apt-get."
    else
      fail "installing needs root, and sudo asks for a password (no terminal to ask on)"
    fi
  fi
  SUDO=(sudo)
fi

echo "Installing with apt-get (about 30 s to a few minutes, depending on the mirror):"
echo "+ ${SUDO[*]:+${SUDO[*]} }apt-get update"
"${SUDO[@]}" apt-get update || fail "apt-get update failed (see above)"
echo "+ ${SUDO[*]:+${SUDO[*]} }apt-get install -y ${need[*]}"
DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y "${need[@]}" \
  || fail "apt-get install failed (see above)"
echo "installed: ${need[*]}"
exec bash "$(dirname "$0")/install-test-js.sh"
