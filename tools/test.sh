#!/usr/bin/env bash
# Sets up and builds visionrt (tools/setup.sh), then runs the whole test
# suite: unit tests, end-to-end model tests, the command-line tool and the
# install test. A second, minimal build without CUDA, OpenCV and oneDNN then
# runs the suite again: the optional parts must stay optional, and the
# built-in matrix product lets the executor's no-allocation check run.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash tools/setup.sh "$@"
ctest --test-dir build --output-on-failure -j2 --timeout 900

cmake -S . -B build-minimal -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DVISIONRT_WITH_CUDA=OFF -DVISIONRT_WITH_OPENCV=OFF -DVISIONRT_WITH_ONEDNN=OFF
cmake --build build-minimal --parallel "$(nproc)"
ctest --test-dir build-minimal --output-on-failure -j2 --timeout 900
