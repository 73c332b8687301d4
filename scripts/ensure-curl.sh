#!/usr/bin/env bash
# Makes sure a curl that speaks HTTP/2 is on PATH for the HTTP/2 tests (curl --http2 against the
# TLS listener): installs Debian's curl when it can (root, apt), otherwise stops with one line
# that says how.
set -euo pipefail
source "$(dirname "$0")/lib/ensure.sh"
have() { command -v curl >/dev/null 2>&1 && curl -V | grep -q 'HTTP2'; }
ensure "curl with HTTP/2" "" curl
