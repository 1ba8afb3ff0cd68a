#!/usr/bin/env bash
# Makes sure a headless Chromium and its WebDriver are installed, for the dashboard's browser tests
# (tests/AspNetCore.Tests). Debian/Ubuntu packages `chromium` and `chromium-driver`, installed with apt-get when
# missing (CI runs as root). Prints the two paths on success, one per line.
#   bash scripts/browser.sh ensure
set -euo pipefail

find_browser() { command -v chromium || command -v chromium-browser || command -v google-chrome || true; }
find_driver() { command -v chromedriver || { [ -x /usr/lib/chromium/chromedriver ] && echo /usr/lib/chromium/chromedriver; } || true; }

case "${1:-ensure}" in
  ensure)
    browser="$(find_browser)"; driver="$(find_driver)"
    if [ -z "$browser" ] || [ -z "$driver" ]; then
      if ! command -v apt-get >/dev/null 2>&1; then
        echo "Chromium and chromedriver are missing and apt-get is not available: install the 'chromium' and 'chromium-driver' packages (or Chrome and a matching chromedriver on PATH)." >&2
        exit 1
      fi
      if [ "$(id -u)" -ne 0 ]; then
        echo "Chromium and chromedriver are missing: run 'sudo apt-get install -y chromium chromium-driver' (or run the tests as root, as CI does)." >&2
        exit 1
      fi
      export DEBIAN_FRONTEND=noninteractive
      # A lock held by another apt run (a parallel install) is waited for rather than failed on.
      apt-get -o DPkg::Lock::Timeout=300 update -qq >&2
      apt-get -o DPkg::Lock::Timeout=300 install -y -qq chromium chromium-driver >&2
      browser="$(find_browser)"; driver="$(find_driver)"
    fi
    if [ -z "$browser" ] || [ -z "$driver" ]; then
      echo "Installing chromium and chromium-driver did not put chromium and chromedriver on PATH." >&2
      exit 1
    fi
    echo "$browser"
    echo "$driver"
    ;;
  *)
    echo "usage: $0 ensure" >&2
    exit 2
    ;;
esac
