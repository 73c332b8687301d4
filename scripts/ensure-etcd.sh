#!/usr/bin/env bash
# Makes sure an etcd binary (3.4+) is on PATH: installs Debian's etcd-server when it can,
# otherwise stops with one line that says how.
set -euo pipefail
command -v etcd >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "etcd not found: installing Debian's etcd-server" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq etcd-server >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq etcd-server >/dev/null; }
  command -v etcd >/dev/null 2>&1 && exit 0
fi
echo "signalbox: etcd not found on PATH; install it with 'sudo apt-get install -y etcd-server' (Debian/Ubuntu) or from the etcd releases page" >&2
exit 1
