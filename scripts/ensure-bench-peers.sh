#!/usr/bin/env bash
# Best effort, for `npm run bench:forwarding`, bench/websocket.ts and bench/h2.ts: installs
# Debian's nginx (the peer proxy and the upstream), wrk (the HTTP/1.1 load generator) and h2load
# (the HTTP/2 one, package nghttp2-client) when they are missing and it can (root, apt). It never
# fails: the benchmarks report a peer they cannot find as "not installed", the forwarding bench
# falls back to its own load loop without wrk, and the h2 bench stops with a message without
# h2load. (Where services start on install, Debian's nginx package also starts the system nginx
# on port 80; the benchmarks never use it, they run nginx from their own temp prefix.)
set -uo pipefail
missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v h2load >/dev/null 2>&1 || missing+=(nghttp2-client)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "bench: installing Debian's ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null; } \
    || echo "bench: could not install ${missing[*]}; going on without" >&2
else
  echo "bench: ${missing[*]} not found; 'sudo apt-get install -y ${missing[*]}' adds them (going on without)" >&2
fi
exit 0
