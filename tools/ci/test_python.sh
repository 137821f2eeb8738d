#!/usr/bin/env bash
# Builds the Python package with `pip install .` into a virtual environment
# and runs its tests (tests/python) with pytest. The environment is the one
# active in this shell (VIRTUAL_ENV, as `source venv/bin/activate` sets it),
# kept as it is apart from what is installed into it; else the folder
# VISIONRT_VENV names, or build-venv/, made anew.
#
#   bash tools/ci/test_python.sh [pip options...]
#   bash tools/ci/test_python.sh -v          # pip shows the build's output
#
# Run after tools/setup/setup.sh, which installs the engine's build dependencies;
# this installs Python's venv module and headers (Debian 12 packages) when
# missing, as root or with sudo. pip fetches the build's requirements
# (scikit-build-core, nanobind) and the tests' (pytest, numpy, pillow) from
# PyPI, and so do the side-by-side tests' (transformers, and torch: about
# 3 GB with the CUDA libraries its PyPI wheel depends on; a torch already
# in the environment is kept).
#
# The tests hold the package to what the full build makes on this machine:
# the OpenCV image front end, the CUDA backend wherever nvcc is found, and
# the answers of the command-line tool (build/visionrt, which
# tools/setup/setup.sh builds, or the one VISIONRT_CLI names). Without one
# of these they fail rather than skip (tools/ci/check_test_skips.sh), so a
# package built without a part (-C cmake.define.VISIONRT_WITH_...=OFF)
# fails them.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

packages=(python3 python3-venv python3-dev)
source tools/setup/apt_packages.sh
install_packages test_python "${packages[@]}"

# As tools/setup/setup.sh: CMake looks for nvcc on PATH only.
if ! command -v nvcc >/dev/null && [[ -x /usr/local/cuda/bin/nvcc ]]; then
  export PATH="/usr/local/cuda/bin:$PATH"
fi

# The Debian Python that python3-dev brings headers for (PYTHON names another).
python=${PYTHON:-/usr/bin/python3}
if [[ -z ${VISIONRT_VENV:-} && -n ${VIRTUAL_ENV:-} ]]; then
  venv=$VIRTUAL_ENV
  echo "test_python: into the active virtual environment $venv"
else
  venv=${VISIONRT_VENV:-build-venv}
  rm -rf "$venv"
  "$python" -m venv "$venv"
fi
# Debian 12's pip (23.0) lacks -C, the short form of --config-settings.
"$venv"/bin/pip install --upgrade pip

start=$SECONDS
CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" "$venv"/bin/pip install "$@" .
echo "test_python: pip install . took $((SECONDS - start)) s"
"$venv"/bin/python -c 'import visionrt as v
print(f"test_python: visionrt {v.__version__}: image decoding {v.has_image_io()}, CUDA backend {v.has_cuda_backend()}")'

"$venv"/bin/pip install pytest numpy pillow
# tests/python/test_pipelines.py runs transformers' pipelines beside visionrt.
start=$SECONDS
"$venv"/bin/pip install transformers torch
echo "test_python: pip install transformers torch took $((SECONDS - start)) s"
if [[ -z ${VISIONRT_CLI:-} && -x build/visionrt ]]; then export VISIONRT_CLI=$PWD/build/visionrt; fi
start=$SECONDS
"$venv"/bin/python -m pytest tests/python -p no:cacheprovider -rs
echo "test_python: pytest took $((SECONDS - start)) s"
