#!/usr/bin/env bash
# The headless browser of tests/integration/test_web_browser.py: Debian's chromium and its
# matching chromedriver (Selenium is told their paths, so it never downloads a driver).
# Installs them with apt when missing; needs root or sudo.
set -euo pipefail
source "$(dirname "$0")/env.sh"
if [ -x "$CS_CHROMIUM" ] && [ -x "$CS_CHROMEDRIVER" ]; then
  exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing chromium and chromium-driver with apt (about 30 s, 440 MB)"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
