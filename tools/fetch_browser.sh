#!/usr/bin/env bash
# Fetches what the web-export browser tests (tests/export/test_web.py) and tools/bench_web.py need: Debian's
# Chromium (apt-get, only where it is missing and we are root; --no-install-recommends) and LiteRT.js from npm into
# ~/.cache/kerasfer/npm (kerasfer.export.browser.install_litert_js; done once per version). `make test` tolerates a
# failure: the tests then skip, with the reason. Cost when missing: Chromium about 115 MB of packages (chromium,
# chromium-common; its libraries on a bare system add more), LiteRT.js 38 MB in the cache; nothing when present.
# Usage: tools/fetch_browser.sh [PYTHON]
set -uo pipefail
py="${1:-python3}"
status=0
if command -v chromium >/dev/null || command -v chromium-browser >/dev/null || [ -n "${KERASFER_CHROMIUM:-}" ]; then
  echo "Chromium present"
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  if apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1; }; then
    echo "Chromium installed"
  else
    echo "Chromium could not be installed (browser tests will skip)"; status=1
  fi
else
  echo "no Chromium, and no root apt-get to install it (browser tests will skip)"; status=1
fi
if command -v npm >/dev/null; then
  "$py" -c "from kerasfer.export.browser import install_litert_js; print('LiteRT.js in', install_litert_js())" \
    || { echo "LiteRT.js could not be installed (browser tests will skip)"; status=1; }
else
  echo "no npm: LiteRT.js not installed (browser tests will skip)"; status=1
fi
exit $status
