#!/usr/bin/env bash
# Checks the include layers (tools/ci/check_layers.py), sets up and builds
# visionrt (tools/setup/setup.sh), then runs the whole test
# suite: unit tests, end-to-end model tests, the command-line tool and the
# install test; then the Python package's and the serving tests
# (tools/ci/test_serve.sh, which builds the package into a new virtual
# environment with tools/ci/test_python.sh; pip fetches from PyPI).
#
# This full build requires every part the README promises: OpenCV and oneDNN,
# and CUDA wherever nvcc is installed; configure fails when one is missing
# rather than leaving its tests to skip. A test of it may skip for three
# reasons only, no GPU on this machine, no BF16 on this CPU and the full-size
# reference models made on demand; a Python test only for the GPU's presence
# or absence and a missing CUDA compiler (tools/ci/check_test_skips.sh). A
# second, minimal build without CUDA, OpenCV and oneDNN then runs the suite
# again: the optional parts must stay optional.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# The layers and the tests' skips first: an include crossing the layers, or
# a test that may skip for a reason not allowed, fails before anything builds.
source tools/setup/apt_packages.sh
install_packages test python3
python3 tools/ci/check_layers.py
bash tools/ci/check_test_skips.sh
cuda=OFF
if command -v nvcc >/dev/null || [[ -x /usr/local/cuda/bin/nvcc ]]; then cuda=ON; fi
bash tools/setup/setup.sh -DVISIONRT_WITH_CUDA="$cuda" -DVISIONRT_WITH_OPENCV=ON -DVISIONRT_WITH_ONEDNN=ON "$@"
ctest --test-dir build --output-on-failure -j2 --timeout 900
bash tools/ci/check_test_skips.sh build
echo "test: the slowest tests, in seconds (ctest -L quick is the quick loop: docs/contributing.md)"
awk '/^---/ { exit } NF == 3 { printf "%8.2f  %s\n", $3, $1 }' build/Testing/Temporary/CTestCostData.txt | sort -rn | head -15

cmake -S . -B build-minimal -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DVISIONRT_WITH_CUDA=OFF -DVISIONRT_WITH_OPENCV=OFF -DVISIONRT_WITH_ONEDNN=OFF
cmake --build build-minimal --parallel "$(nproc)"
ctest --test-dir build-minimal --output-on-failure -j2 --timeout 900

bash tools/ci/test_serve.sh
