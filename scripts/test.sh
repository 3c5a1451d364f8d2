#!/usr/bin/env bash
# Set up, then run the linter and the test suite (needs ../shared beside the checkout).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check superres tests benchmarks
.venv/bin/python -m pytest -q "$@"
