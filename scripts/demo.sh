#!/usr/bin/env bash
# Set up, then upscale the bundled sample with the default model into results/.
set -euo pipefail
cd "$(dirname "$0")/.."
SUPERRES_BROWSER=no bash scripts/setup.sh  # no tests here: no browser needed
.venv/bin/superres upscale assets/sample.png -o results/ "$@"
echo "result: results/sample_x4.png"
