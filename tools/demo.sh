#!/usr/bin/env bash
# Sets up and builds visionrt (tools/setup.sh), then classifies the bundled
# example digits with the bundled demo model.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash tools/setup.sh
./build/visionrt classify --model models/demo/vit-digits models/demo/images
