#!/usr/bin/env bash
# Makes sure etcd (3.4+) and etcdctl are on PATH: installs Debian's etcd-server and etcd-client
# when it can (root, apt), otherwise stops with one line that says how.
set -euo pipefail
source "$(dirname "$0")/lib/ensure.sh"
have() { command -v etcd >/dev/null 2>&1 && command -v etcdctl >/dev/null 2>&1; }
ensure etcd/etcdctl "or from the etcd releases page" etcd-server etcd-client
