#!/usr/bin/env bash
# Sets up and builds visionrt (tools/setup/setup.sh), then runs the bundled demo
# models on their example images: the digits classifier, and the shapes
# detector, which also writes annotated copies to build/demo-detections/.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash tools/setup/setup.sh
./build/visionrt classify --model models/demo/vit-digits --topk 3 models/demo/images/digits
./build/visionrt detect --model models/demo/detr-shapes --draw build/demo-detections models/demo/images/shapes
echo "annotated images: build/demo-detections/"
