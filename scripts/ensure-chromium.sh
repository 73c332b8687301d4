#!/usr/bin/env bash
# Makes sure a Chromium binary is there for the dashboard's browser test and screenshots: installs
# Debian's chromium when it can (root, apt), otherwise stops with one line that says how.
set -euo pipefail
have() { [ -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; }
have && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "chromium not found: installing Debian's chromium" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq chromium >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }
  have && exit 0
fi
echo "signalbox: chromium not found; install it with 'sudo apt-get install -y chromium' (Debian/Ubuntu) or set CHROMIUM_PATH to a Chromium binary" >&2
exit 1
