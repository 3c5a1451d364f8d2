#!/usr/bin/env bash
# Create .venv and install superres with its test tools. Safe to re-run.
# torch is installed first, pinned by constraints.txt, so no later step can swap in
# another build (on these machines pip's torch==2.13.0 is the local CPU wheel).
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt "torch==2.13.0"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[test]"
# The browser tests (tests/serve/test_page.py) drive Debian's chromium through Playwright: install it
# when missing (apt-get as root or with sudo); if it cannot be installed, fail here, loudly, rather than
# let the tests fail later. scripts/demo.sh, which runs no tests, sets SUPERRES_BROWSER=no.
if [ "${SUPERRES_BROWSER:-yes}" != no ] && [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && apt-get install -y -qq chromium
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        sudo apt-get update -qq && sudo apt-get install -y -qq chromium
    fi
    if [ ! -x /usr/bin/chromium ]; then
        echo "setup: /usr/bin/chromium is missing and could not be installed; the browser tests need it:" \
            "run 'apt-get install chromium' as root" >&2
        exit 1
    fi
fi
