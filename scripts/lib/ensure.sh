# Sourced by scripts/ensure-*.sh. `ensure LABEL HINT PACKAGE...`: succeeds when the caller's
# `have` does; otherwise installs the Debian packages when it can (root, apt) and checks again;
# otherwise stops with one line naming the command that installs them (and HINT, if any).
ensure() {
  local label=$1 hint=$2
  shift 2
  have && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "$label not found: installing Debian's $*" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq "$@" >/dev/null 2>&1 \
      || { apt-get update -qq && apt-get install -y -qq "$@" >/dev/null; }
    have && return 0
  fi
  echo "signalbox: $label not found; install it with 'sudo apt-get install -y $*' (Debian/Ubuntu)${hint:+ $hint}" >&2
  exit 1
}
