#!/usr/bin/env bash
# Makes sure the programs the tests drive are on PATH: git (the GitOps tests make repositories),
# curl with HTTP/2 (curl --http2 against the TLS listener) and openssl (certificates made per
# test). Installs Debian's packages when it can (root, apt), otherwise stops with one line that
# says how.
set -euo pipefail
source "$(dirname "$0")/lib/ensure.sh"
have() { command -v git >/dev/null 2>&1; }
ensure git "" git
have() { command -v curl >/dev/null 2>&1 && curl -V | grep -q 'HTTP2'; }
ensure "curl with HTTP/2" "" curl
have() { command -v openssl >/dev/null 2>&1; }
ensure openssl "" openssl
