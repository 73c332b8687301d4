#!/usr/bin/env bash
# Makes sure a Chromium binary is there for the dashboard's browser test and screenshots: installs
# Debian's chromium when it can (root, apt), otherwise stops with one line that says how.
set -euo pipefail
source "$(dirname "$0")/lib/ensure.sh"
have() { [ -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; }
ensure chromium "or set CHROMIUM_PATH to a Chromium binary" chromium
