#!/usr/bin/env bash
# The browser the proposal page test drives: Debian's chromium, headless.
#
#   scripts/browser.sh install   apt-get install chromium when it is missing (as root)
#   scripts/browser.sh path      print its path (CHROMIUM_PATH, default /usr/bin/chromium)
set -euo pipefail

chromium="${CHROMIUM_PATH:-/usr/bin/chromium}"
say() { echo "[browser] $*"; }
die() { echo "[browser] $*" >&2; exit 1; }

cmd_install() {
  if [[ -x $chromium ]]; then
    return 0
  fi
  if [[ $EUID -ne 0 ]]; then
    die "chromium is missing at $chromium - install it as root with:
    sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y chromium"
  fi
  command -v apt-get >/dev/null || die "chromium is missing and apt-get is not available (Debian/Ubuntu only)"
  say "installing chromium from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
  [[ -x $chromium ]] || die "chromium was installed but is not at $chromium (set CHROMIUM_PATH)"
}

case "${1:-}" in
  install) cmd_install ;;
  path) echo "$chromium" ;;
  *) die "usage: scripts/browser.sh install|path" ;;
esac
