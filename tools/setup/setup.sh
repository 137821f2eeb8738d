#!/usr/bin/env bash
# Installs what visionrt needs to build (Debian 12 packages) and builds it in
# build/ with Ninja, in Release mode, on all cores.
#
#   bash tools/setup/setup.sh [extra cmake options...]
#   bash tools/setup/setup.sh -DVISIONRT_WITH_CUDA=OFF
#
# Run as root, or as a user with sudo. The package step is skipped when every
# package is already installed, so later runs work offline.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

# OpenCV: only the modules the image front end uses (core, imgproc, imgcodecs);
# libopencv-dev would bring every module (cmake/VisionrtOptional.cmake).
packages=(build-essential cmake ninja-build pkg-config nlohmann-json3-dev libgtest-dev libdnnl-dev
          libopencv-core-dev libopencv-imgproc-dev libopencv-imgcodecs-dev libjpeg-dev zlib1g-dev)

source tools/setup/apt_packages.sh
install_packages setup "${packages[@]}"

# CMake looks for nvcc on PATH only; pick up the usual CUDA location as well
# so that VISIONRT_WITH_CUDA=AUTO finds it.
if ! command -v nvcc >/dev/null && [[ -x /usr/local/cuda/bin/nvcc ]]; then
  export PATH="/usr/local/cuda/bin:$PATH"
fi

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build build --parallel "$(nproc)"
