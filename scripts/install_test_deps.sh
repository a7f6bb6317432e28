#!/usr/bin/env bash
# System packages the test suite needs beyond Python: Debian's Chromium (headless page and email
# rendering). Skipped when present; needs root (CI runs as root). Without it those tests skip.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "install_test_deps: chromium is missing; as root: apt-get install -y chromium" >&2
  exit 0
fi
echo "install_test_deps: installing chromium (Debian package)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq chromium >/dev/null
