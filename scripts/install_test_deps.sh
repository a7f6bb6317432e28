#!/usr/bin/env bash
# System packages the test suite needs beyond Python, from Debian: Chromium (headless page and
# email rendering) and redis-server (the Celery broker of the scale-out test, started by the test
# itself on a free port). Each is skipped when present; installing needs root (CI runs as root).
# Without them those tests skip with the reason.
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "install_test_deps: missing ${missing[*]}; as root: apt-get install -y ${missing[*]}" >&2
  exit 0
fi
echo "install_test_deps: installing ${missing[*]} (Debian packages)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq "${missing[@]}" >/dev/null
