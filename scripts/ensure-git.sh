#!/usr/bin/env bash
# Makes sure git is on PATH for the GitOps tests, which make repositories of their own: installs
# Debian's git when it can (root, apt), otherwise stops with one line that says how.
set -euo pipefail
have() { command -v git >/dev/null 2>&1; }
have && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "git not found: installing Debian's git" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq git >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq git >/dev/null; }
  have && exit 0
fi
echo "signalbox: git not found; install it with 'sudo apt-get install -y git' (Debian/Ubuntu)" >&2
exit 1
