#!/usr/bin/env bash
# Sets up and builds visionrt (tools/setup/setup.sh), then runs the bundled demo
# models on their example images: the digits classifier, and the three shapes
# detectors (DETR, RT-DETR and D-FINE), which also write annotated copies to
# build/demo-detections/, build/demo-detections-rtdetr/ and build/demo-detections-dfine/.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash tools/setup/setup.sh
./build/visionrt classify --model models/demo/vit-digits --topk 3 models/demo/images/digits
./build/visionrt detect --model models/demo/detr-shapes --draw build/demo-detections models/demo/images/shapes
./build/visionrt detect --model models/demo/rtdetr-shapes --draw build/demo-detections-rtdetr models/demo/images/shapes
./build/visionrt detect --model models/demo/dfine-shapes --draw build/demo-detections-dfine models/demo/images/shapes
echo "annotated images: build/demo-detections/ (DETR), build/demo-detections-rtdetr/ (RT-DETR)," \
  "build/demo-detections-dfine/ (D-FINE)"
