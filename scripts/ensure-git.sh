#!/usr/bin/env bash
# Makes sure git is on PATH for the GitOps tests, which make repositories of their own: installs
# Debian's git when it can (root, apt), otherwise stops with one line that says how.
set -euo pipefail
source "$(dirname "$0")/lib/ensure.sh"
have() { command -v git >/dev/null 2>&1; }
ensure git "" git
