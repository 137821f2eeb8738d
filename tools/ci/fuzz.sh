#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz (one per reader) with clang,
# AddressSanitizer and UndefinedBehaviorSanitizer in build-fuzz/, fuzzes each
# for FUZZ_SECONDS (default 60) and prints one line per target: executions,
# seconds, executions per second, and "no finding" or the input that makes
# it fail (kept under build-fuzz/artifacts/). Exits 1 after any finding.
#
#   bash tools/ci/fuzz.sh                            # every target
#   FUZZ_SECONDS=600 bash tools/ci/fuzz.sh fuzz_safetensors fuzz_image_decode
#
# The committed seeds (tests/fuzz/corpus/<target>/) are only read; inputs
# that reach new code are kept in build-fuzz/corpus/<target>/ for the next
# run. Installs its packages (as root, or with sudo) when they are missing.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

# What the fuzz build needs: clang (Debian 12's is 14) with libFuzzer and the
# sanitizer runtimes (libclang-rt-14-dev, only recommended by clang), clang's
# OpenMP, llvm-symbolizer (llvm-14) for readable reports, and the libraries of
# the readers under test. libomp-14-dev and tools/ci/sanitize.sh's libomp-16-dev
# conflict: installing either removes the other.
packages=(cmake ninja-build pkg-config clang libclang-rt-14-dev libomp-14-dev llvm-14 nlohmann-json3-dev
          libopencv-core-dev libopencv-imgproc-dev libopencv-imgcodecs-dev libjpeg-dev zlib1g-dev)

source tools/setup/apt_packages.sh
install_packages fuzz "${packages[@]}"

build="build-fuzz"
seconds=${FUZZ_SECONDS:-60}
targets=("$@")
if ((${#targets[@]} == 0)); then
  targets=(fuzz_safetensors fuzz_json_configs fuzz_sharded_index fuzz_image_decode fuzz_model_config)
fi

# Everything instrumented as the targets are; no CUDA, oneDNN, tests or tool,
# which the readers do not need.
CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS="-fsanitize=address,undefined,fuzzer-no-link -fno-sanitize-recover=all -fno-omit-frame-pointer" \
  -DVISIONRT_FUZZ=ON -DVISIONRT_WITH_CUDA=OFF -DVISIONRT_WITH_OPENCV=ON -DVISIONRT_WITH_ONEDNN=OFF \
  -DVISIONRT_BUILD_TESTS=OFF -DVISIONRT_BUILD_CLI=OFF >/dev/null
cmake --build "$build" --parallel "$(nproc)" --target "${targets[@]}"

mkdir -p "$build/artifacts" "$build/logs" "$build/tmp"
# fuzz_sharded_index writes its scratch model folder under TMPDIR; the
# sanitizers look for llvm-symbolizer on PATH.
export TMPDIR="$PWD/$build/tmp" PATH="$PATH:/usr/lib/llvm-14/bin" UBSAN_OPTIONS=print_stacktrace=1
found=0
for target in "${targets[@]}"; do
  corpus="$build/corpus/$target" log="$build/logs/$target.log"
  mkdir -p "$corpus"
  start=$SECONDS status=0
  # Findings besides crashes and sanitizer reports: one allocation over
  # 1 GiB (the inputs are small: a reader must refuse before sizing that
  # much), an input running over 30 s, a process over 2 GiB.
  "$build/tests/fuzz/$target" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
    -dict="tests/fuzz/$target.dict" -artifact_prefix="$build/artifacts/$target-" -print_final_stats=1 \
    "$corpus" "tests/fuzz/corpus/$target" >"$log" 2>&1 || status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  artifact=$(sed -n 's/.*Test unit written to //p' "$log" | tail -n 1)
  if ((status == 0)) && [[ -z $artifact ]]; then
    result="no finding"
  else
    result="FINDING: ${artifact:-exit status $status} (report: $log)"
    found=1
  fi
  printf '%-20s %12s execs %6s s %8s exec/s  %s\n' "$target" "${runs:-?}" $((SECONDS - start)) "${rate:-?}" "$result"
done
exit "$found"
