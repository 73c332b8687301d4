#!/usr/bin/env bash
# Makes sure etcd (3.4+) and etcdctl are on PATH: installs Debian's etcd-server and etcd-client
# when it can (root, apt), otherwise stops with one line that says how.
set -euo pipefail
have() { command -v etcd >/dev/null 2>&1 && command -v etcdctl >/dev/null 2>&1; }
have && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "etcd/etcdctl not found: installing Debian's etcd-server and etcd-client" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq etcd-server etcd-client >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq etcd-server etcd-client >/dev/null; }
  have && exit 0
fi
echo "signalbox: etcd not found on PATH; install it with 'sudo apt-get install -y etcd-server etcd-client' (Debian/Ubuntu) or from the etcd releases page" >&2
exit 1
