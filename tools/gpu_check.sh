#!/usr/bin/env bash
# GPU check: builds visionrt with CUDA, runs the kernel tests and the whole
# test suite, benchmarks the kernels against PyTorch, and prints one
# comparison table last. Logs go to OUT_DIR. Exits non-zero when the build or
# any test fails (the table is still printed when benchmarks ran).
#
#   tools/gpu_check.sh OUT_DIR
set -uo pipefail

if [ $# -ne 1 ]; then
  echo "usage: tools/gpu_check.sh OUT_DIR" >&2
  exit 2
fi
mkdir -p "$1"
OUT=$(cd "$1" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD="$ROOT/build-gpu"
JOBS=$(nproc)
failures=()
# Every step's timeout is cut to what is left of LIMIT seconds, so the whole
# check ends within 8 minutes even when something hangs (GPU_CHECK_LIMIT
# raises it where the build alone takes longer, as on a 2-core machine).
START=$(date +%s)
LIMIT=${GPU_CHECK_LIMIT:-450}
budget() {
  local want=$1 left=$((START + LIMIT - $(date +%s)))
  if [ "$left" -lt "$want" ]; then want=$left; fi
  if [ "$want" -lt 1 ]; then want=1; fi
  echo "$want"
}

step() { echo; echo "=== $* ($(date +%T))"; }
failed() { failures+=("$1"); echo "!!! FAILED: $1"; }
finish() {
  echo
  if [ ${#skipped[@]} -gt 0 ]; then
    echo "GPU steps skipped (no usable GPU):"
    printf '  - %s\n' "${skipped[@]}"
  fi
  if [ ${#failures[@]} -gt 0 ]; then
    echo "GPU CHECK FAILED:"
    printf '  - %s\n' "${failures[@]}"
    exit 1
  fi
  if [ "$GPU" -eq 0 ]; then
    echo "GPU CHECK INCOMPLETE: built and CPU-tested only"
    exit 2
  fi
  echo "GPU CHECK PASSED"
  exit 0
}

if ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH=/usr/local/cuda/bin:$PATH
fi

# Without a usable GPU the check still builds for sm_90 and runs the CPU
# suite, reports every GPU step as skipped, prints its table and exits 2.
step "device"
GPU=1
if ! nvidia-smi 2>&1 | tee "$OUT/nvidia-smi.txt" || ! nvidia-smi -L 2>/dev/null | grep -q "^GPU "; then
  GPU=0
  echo "no usable GPU (nvidia-smi finds none): every GPU step below is skipped"
fi
skipped=()
gpu_step() {  # gpu_step NAME: false (and noted) where there is no GPU
  if [ "$GPU" -eq 0 ]; then
    skipped+=("$1")
    echo; echo "=== $1: skipped, no usable GPU"
    return 1
  fi
  step "$1"
}

step "configure"
if ! timeout "$(budget 120)" cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DVISIONRT_WITH_CUDA=ON -DVISIONRT_WITH_OPENCV=OFF -DCMAKE_CUDA_ARCHITECTURES=90 \
    2>&1 | tee "$OUT/configure.log"; then
  failed "configure (see $OUT/configure.log)"
  finish
fi

step "build ($JOBS jobs)"
if ! timeout "$(budget $((LIMIT * 2 / 3)))" cmake --build "$BUILD" -j "$JOBS" 2>&1 | tee "$OUT/build.log"; then
  failed "build (see $OUT/build.log)"
  finish
fi

TESTS="$BUILD/tests/visionrt_tests"
if gpu_step "kernel tests"; then
if ! timeout "$(budget 180)" "$TESTS" --gtest_filter='*Kernel*' --gtest_output="xml:$OUT/kernel_tests.xml" \
    2>&1 | tee "$OUT/kernel_tests.log"; then
  failed "kernel tests (see $OUT/kernel_tests.log)"
fi
# A kernel test that skips on this machine means the device was not usable.
if grep -q "no CUDA device" "$OUT/kernel_tests.log"; then
  failed "kernel tests skipped: no usable CUDA device"
fi
fi

step "whole test suite"
SUITE_TIME=$(budget $((LIMIT * 4 / 9)))
if ! timeout "$SUITE_TIME" ctest --test-dir "$BUILD" -j "$JOBS" --timeout "$SUITE_TIME" --output-on-failure \
    2>&1 | tee "$OUT/ctest.log"; then
  failed "test suite (see $OUT/ctest.log)"
fi

if gpu_step "whole models on the GPU"; then
if ! timeout "$(budget 120)" "$TESTS" --gtest_filter='CudaModels*:CudaDetr*:CudaBackendLibrary*' \
    --gtest_output="xml:$OUT/model_tests.xml" 2>&1 | tee "$OUT/model_tests.log"; then
  failed "model tests on the GPU (see $OUT/model_tests.log)"
fi
if grep -q "no CUDA device" "$OUT/model_tests.log"; then
  failed "model tests skipped: no usable CUDA device"
fi
fi

if gpu_step "ViT-B/16 and DETR-R50 next to PyTorch (visionrt bench and peers in the same call)"; then
timeout "$(budget 150)" python3 "$ROOT/tools/peers_gpu.py" --visionrt "$BUILD/visionrt" \
    --precisions fp32,fp16 --batches 1,64,256 2>&1 | tee "$OUT/peers_gpu.txt" \
  || echo "peers_gpu (ViT) did not finish (see $OUT/peers_gpu.txt)"
timeout "$(budget 90)" python3 "$ROOT/tools/peers_gpu.py" --visionrt "$BUILD/visionrt" --model detr-r50 \
    --precisions fp32,fp16 --batches 1,8 --no-compile 2>&1 | tee "$OUT/peers_gpu_detr.txt" \
  || echo "peers_gpu (DETR) did not finish (see $OUT/peers_gpu_detr.txt)"
fi

if gpu_step "kernel benchmarks, visionrt and torch"; then
timeout "$(budget 120)" "$BUILD/bench_kernels" --csv > "$OUT/bench_visionrt.csv" \
  2> "$OUT/bench_visionrt.err" || failed "bench_kernels (see $OUT/bench_visionrt.err)"
cat "$OUT/bench_visionrt.csv" "$OUT/bench_visionrt.err"

echo; echo "=== torch peer benchmark"
timeout "$(budget 120)" python3 "$ROOT/tools/peer_torch_kernels.py" --csv > "$OUT/bench_torch.csv" \
  2> "$OUT/bench_torch.err" || echo "torch peer failed (see $OUT/bench_torch.err); table without it"
cat "$OUT/bench_torch.csv" "$OUT/bench_torch.err"
fi

# compute-sanitizer: memcheck over every kernel test, racecheck (shared
# memory hazards) over the small cases. Running out of time is noted, not
# counted as a failure; an error report is.
sanitize() {
  local tool=$1 filter=$2 log="$OUT/sanitizer_$1.log" rc
  step "compute-sanitizer $tool"
  timeout "$(budget 120)" compute-sanitizer --tool "$tool" --error-exitcode 99 \
    "$TESTS" --gtest_filter="$filter" > "$log" 2>&1
  rc=$?
  tail -n 5 "$log"
  if [ "$rc" -eq 124 ]; then
    echo "compute-sanitizer $tool did not finish in time (see $log)"
  elif [ "$rc" -ne 0 ]; then
    failed "compute-sanitizer $tool (see $log)"
  fi
}
if [ "$GPU" -eq 0 ]; then
  skipped+=("compute-sanitizer")
elif command -v compute-sanitizer >/dev/null 2>&1; then
  sanitize memcheck '*Kernel*'
  sanitize racecheck '*AttentionKernel*tails*:*AttentionKernel*one_token*:*exact_tiles*:*LayerNormKernel*w770*:*SoftmaxKernel*:*SinePositionKernel*detr_padding*'
else
  echo "compute-sanitizer not found; skipped"
fi

step "comparison (torch/visionrt > 1: visionrt faster)"
cat "$OUT/peers_gpu.txt" "$OUT/peers_gpu_detr.txt" 2>/dev/null | grep -E "^(fp32|fp16|bf16) |; (vit|detr) " \
  | tee "$OUT/models.txt"
python3 - "$OUT/bench_visionrt.csv" "$OUT/bench_torch.csv" <<'EOF' | tee "$OUT/comparison.txt"
import csv, os, sys

def load(path):
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return {}
    with open(path) as f:
        return {row["case"]: row for row in csv.DictReader(f)}

ours, torch = load(sys.argv[1]), load(sys.argv[2])
header = ("case", "visionrt ms", "torch ms", "torch/visionrt", "achieved", "% of peak", "torch achieved")
rows = []
for case in list(ours) + [c for c in torch if c not in ours]:
    o, t = ours.get(case), torch.get(case)
    ratio = f"{float(t['ms']) / float(o['ms']):.2f}" if o and t else "n/a"
    rows.append((case,
                 f"{float(o['ms']):.4f}" if o else "n/a",
                 f"{float(t['ms']):.4f}" if t else "n/a",
                 ratio,
                 f"{o['achieved']} {o['unit']}" if o else "n/a",
                 f"{o['peak_pct']}% of {o['peak_name']} {o['peak']}" if o else "n/a",
                 f"{t['achieved']} {t['unit']}" if t else "n/a"))
widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
line = lambda r: " | ".join(str(v).ljust(w) for v, w in zip(r, widths))
print(line(header))
print("-+-".join("-" * w for w in widths))
for r in rows:
    print(line(r))
if not rows:
    print("(no benchmark results)")
EOF

finish
