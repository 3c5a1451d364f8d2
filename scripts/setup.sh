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
