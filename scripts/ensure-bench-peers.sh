#!/usr/bin/env bash
# Best effort, for the benchmarks beside peers (bench:forwarding, bench:websocket, bench:h2 and
# bench/writes.ts): installs Debian's nginx (the peer proxy and the upstream), wrk (the HTTP/1.1
# load generator), h2load (the HTTP/2 one, package nghttp2-client) and caddy (the peer whose hot
# reload the write path is measured against) when they are missing and it can (root, apt). It
# never fails: the benchmarks report a peer they cannot find as "not installed", the forwarding
# bench falls back to its own load loop without wrk, and the h2 bench stops with a message without
# h2load. (Where services start on install, Debian's nginx and caddy packages also start the
# system nginx on port 80 and caddy on 80 and 2019; the benchmarks never use them, they run their
# own from temp folders on ports of their own.)
set -uo pipefail
missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v h2load >/dev/null 2>&1 || missing+=(nghttp2-client)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v caddy >/dev/null 2>&1 || missing+=(caddy)
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
