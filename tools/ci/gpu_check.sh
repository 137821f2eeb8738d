#!/usr/bin/env bash
# GPU check: the one prepared call for a GPU machine whose image is not the
# project's. It prints what the machine has, builds visionrt there for sm_90
# (CUDA on, OpenCV off) with what the system has and, for what it lacks, the
# Debian packages tools/ci/gpu_pack.sh put in .gpudeps/ (unpacked with dpkg -x:
# no network or apt needed), then gathers evidence in order of worth, each
# step's timeout cut to what is left of one budget:
#   1. the GPU test suites, once each, one process per suite (a sticky CUDA
#      error fails one suite, not the rest), the out-of-memory test alone;
#   2. the whole-model GPU tests (every precision);
#   3. `visionrt bench` next to PyTorch eager (tools/bench/peers_gpu.py), and the
#      kernel benchmark next to its PyTorch peer (tools/bench/peer_torch_kernels.py),
#      in the same call;
#   4. compute-sanitizer racecheck and memcheck over the project's kernels;
#   5. the CPU remainder: every ctest test that is not a GPU test;
#   6. torch.compile peers, when time is left.
# Writes two files to OUT_DIR: summary.txt (the probe, each step's outcome,
# configure's and ctest's summary lines, the benchmark tables) and
# logs.tar.gz (every log). Exit status: 0 when everything ran and passed, 1
# when anything failed or a needed step ran out of time, 2 when it passed
# but the GPU steps could not run (no usable GPU: each is listed as skipped).
#
#   bash tools/ci/gpu_check.sh OUT_DIR
#
# GPU_CHECK_LIMIT: the budget in seconds (default 540, for one 600 s call; a
# build on a few cores needs more).
set -uo pipefail

if [ $# -ne 1 ]; then
  echo "usage: tools/ci/gpu_check.sh OUT_DIR" >&2
  exit 2
fi
mkdir -p "$1"
OUT=$(cd "$1" && pwd)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD="$ROOT/build-gpu"
DEPS="$ROOT/build-gpudeps"
LOGS="$ROOT/build-gpu-logs"
SUMMARY="$OUT/summary.txt"
JOBS=$(nproc)
START=$(date +%s)
LIMIT=${GPU_CHECK_LIMIT:-540}
rm -rf "$LOGS"
mkdir -p "$LOGS"
: > "$SUMMARY"

failed=0 cut=0 skipped=0
note() { echo "$*" | tee -a "$SUMMARY"; }
left() { echo $((START + LIMIT - $(date +%s))); }

finish() {
  trap - EXIT
  local rc
  if ((failed || cut)); then
    rc=1
  elif ((skipped)); then
    rc=2
  else
    rc=0
  fi
  note ""
  note "result: $failed failed, $cut cut (out of time), $skipped skipped (no GPU); $(($(date +%s) - START)) s of $LIMIT; exit $rc"
  case $rc in
    0) note "GPU CHECK PASSED" ;;
    1) note "GPU CHECK FAILED" ;;
    2) note "GPU CHECK INCOMPLETE: built and CPU-tested; every GPU step skipped (no usable GPU)" ;;
  esac
  tar -C "$LOGS" -czf "$OUT/logs.tar.gz" . 2>/dev/null
  exit "$rc"
}
trap finish EXIT
trap 'note "interrupted"; failed=$((failed + 1)); exit 1' INT TERM

# record NAME STATUS: one line of the summary per step.
record() { note "$(printf '%-9s %s' "$2" "$1")"; }

# run_step KIND NAME WANT LOG COMMAND...: runs COMMAND with its output in
# LOGS/LOG and a timeout of WANT seconds, cut to what is left. KIND holds
# "gpu" for a step that needs the GPU (skipped without one), "opt" for one
# whose failure or lack of time is noted but does not fail the check, and
# "cutok" for one whose lack of time is noted but whose failure counts.
# Returns COMMAND's status, 3 when skipped, 4 when cut.
MIN_STEP=10
run_step() {
  local kind=$1 name=$2 want=$3 log=$4 rc t0 budget
  shift 4
  if [[ $kind == *gpu* && $GPU -eq 0 ]]; then
    record "$name" "SKIPPED"
    skipped=$((skipped + 1))
    return 3
  fi
  budget=$(left)
  if ((budget < MIN_STEP || want < MIN_STEP)); then
    record "$name" "CUT"
    [[ $kind == *opt* || $kind == *cutok* ]] || cut=$((cut + 1))
    return 4
  fi
  ((want < budget)) || want=$budget
  echo "--- $name (up to $want s, $(date +%T))"
  t0=$(date +%s)
  timeout -k 10 "$want" "$@" > "$LOGS/$log" 2>&1
  rc=$?
  local took=$(($(date +%s) - t0)) why="exit $rc"
  # A GPU step that skipped for want of a CUDA device, on a machine whose
  # nvidia-smi shows a GPU, has failed: the GPU was not usable.
  if ((rc == 0)) && [[ $kind == *gpu* ]] && grep -q "no CUDA device" "$LOGS/$log"; then
    rc=98
    why="skipped, '$(grep -m1 -o 'no CUDA device.*' "$LOGS/$log" | cut -c1-120)' with a GPU present"
  fi
  if ((rc == 124 || rc == 137)); then
    record "$name ($took s; timed out: see $log)" "CUT"
    [[ $kind == *opt* || $kind == *cutok* ]] || cut=$((cut + 1))
    return 4
  elif ((rc != 0)); then
    if [[ $kind == *opt* ]]; then
      record "$name ($took s; $why, not counted: see $log)" "FAILED"
    else
      record "$name ($took s; $why: see $log)" "FAILED"
      failed=$((failed + 1))
    fi
    tail -n 15 "$LOGS/$log" | sed 's/^/    | /'
    return "$rc"
  fi
  record "$name ($took s)" "passed"
  return 0
}

# ---------------------------------------------------------------- probe
note "gpu_check: visionrt $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '(no git)'), $(date -u '+%F %T UTC'), budget $LIMIT s"
probe() { note "probe: $*"; }
first() { head -n 1 | cut -c1-200; }
probe "host: $(uname -srm), $JOBS cores, $(awk '/MemTotal/ {printf "%d GiB", $2 / 1048576}' /proc/meminfo)"
probe "os: $( (. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME") || echo unknown), glibc $(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}')"

GPU=0
if command -v nvidia-smi >/dev/null 2>&1; then
  timeout 60 nvidia-smi > "$LOGS/nvidia-smi.txt" 2>&1
  gpus=$(timeout 30 nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1)
  if [ $? -eq 0 ] && [ -n "$gpus" ] && timeout 30 nvidia-smi -L 2>/dev/null | grep -q "^GPU "; then
    GPU=1
    while IFS= read -r line; do probe "GPU: $line"; done <<<"$gpus"
    driver=$(awk -F', ' 'NR == 1 {print $3}' <<<"$gpus")
    if [ "${driver%%.*}" -lt 580 ] 2>/dev/null; then
      probe "driver $driver is older than CUDA 13 needs (R580): the GPU tests will fail"
    fi
  else
    probe "GPU: none usable (nvidia-smi: $(first <<<"$gpus"))"
  fi
else
  probe "GPU: none (no nvidia-smi)"
fi

if ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH=/usr/local/cuda/bin:$PATH
fi
NVCC=$(command -v nvcc || true)
CUDA_HOME=$( [ -n "$NVCC" ] && cd "$(dirname "$(readlink -f "$NVCC")")/.." && pwd)
probe "nvcc: ${NVCC:-none} ($( [ -n "$NVCC" ] && nvcc --version | grep -m1 release | sed 's/.*release //'))"
for tool in cmake ninja g++ python3; do
  if command -v "$tool" >/dev/null 2>&1; then
    probe "$tool: $(command -v "$tool") ($("$tool" --version 2>&1 | first))"
  else
    probe "$tool: none"
  fi
done
probe "python3 packages: $(timeout 120 python3 -c '
import importlib.metadata as m
out = []
try:
    import torch
    out.append(f"torch {torch.__version__} (CUDA {torch.version.cuda}, device {torch.cuda.is_available()})")
except Exception as e:
    out.append(f"torch: {type(e).__name__}: {e}")
for name in ("transformers", "nvidia-cudnn-cu13", "nvidia-cudnn-cu12"):
    try:
        out.append(f"{name} {m.version(name)}")
    except Exception:
        pass
print("; ".join(out))' 2>&1 | tail -n 1 | cut -c1-300)"
PURELIB=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' 2>/dev/null)
find_lib() {  # NAME: the first match beside the toolkit, then the loader's cache
  local f
  for f in "$CUDA_HOME"/lib64/"$1"* "$CUDA_HOME"/targets/*/lib/"$1"*; do
    [ -e "$f" ] && { echo "$f"; return; }
  done
  ldconfig -p 2>/dev/null | awk -v n="$1" '$1 ~ "^" n {print $NF; exit}'
}
probe "cuBLAS: $(find_lib libcublas.so) $(find_lib libcublasLt.so)"
system_cudnn=$(find_lib libcudnn.so)
wheel_cudnn=$(ls "$PURELIB"/nvidia/cudnn/lib/libcudnn.so* 2>/dev/null | head -n 1)
probe "cuDNN: system ${system_cudnn:-none}; python3 wheel ${wheel_cudnn:-none}"
SANITIZER=$(command -v compute-sanitizer || ls "$CUDA_HOME"/bin/compute-sanitizer "$CUDA_HOME"/compute-sanitizer/compute-sanitizer 2>/dev/null | head -n 1)
probe "compute-sanitizer: ${SANITIZER:-none}"

# ------------------------------------------- dependencies: the system's, else carried
# A small CMake project asks find_package what the system has.
mkdir -p "$DEPS/probe"
cat > "$DEPS/probe/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.18)
project(probe LANGUAGES CXX)
find_package(nlohmann_json 3.2 QUIET)
find_package(GTest QUIET)
find_package(OpenMP QUIET COMPONENTS CXX)
message(STATUS "probe nlohmann_json=${nlohmann_json_FOUND} ${nlohmann_json_DIR}")
message(STATUS "probe GTest=${GTest_FOUND} ${GTest_DIR}")
message(STATUS "probe OpenMP=${OpenMP_CXX_FOUND}")
EOF
timeout 120 cmake -S "$DEPS/probe" -B "$DEPS/probe/build" > "$LOGS/deps-probe.log" 2>&1
found() { grep -q "probe $1=\(TRUE\|1\|ON\)" "$LOGS/deps-probe.log"; }
PREFIX="$DEPS/root"
MULTIARCH=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
unpack() {  # WHAT DEB_GLOB...: unpacks the carried packages into PREFIX
  local what=$1 deb ok=1 names=()
  shift
  for pattern in "$@"; do
    deb=$(ls "$ROOT"/.gpudeps/$pattern 2>/dev/null | head -n 1)
    [ -n "$deb" ] && names+=("$(basename "$deb")")
    if [ -z "$deb" ]; then
      ok=0
    elif command -v dpkg >/dev/null 2>&1; then
      dpkg -x "$deb" "$PREFIX" || ok=0
    else
      (cd "$DEPS" && ar x "$deb" && tar -xf data.tar.* -C "$PREFIX" && rm -f data.tar.* control.tar.* debian-binary) || ok=0
    fi
  done
  if ((ok)); then
    probe "$what: not on the system; unpacked from .gpudeps (${names[*]})"
  else
    probe "$what: not on the system and not carried (run tools/ci/gpu_pack.sh first and carry .gpudeps)"
  fi
}
rm -rf "$PREFIX"
mkdir -p "$PREFIX"
if found nlohmann_json; then
  probe "nlohmann_json: system ($(sed -n 's/.*probe nlohmann_json=[^ ]* //p' "$LOGS/deps-probe.log"))"
else
  unpack nlohmann_json 'nlohmann-json3-dev_*.deb'
fi
if found GTest; then
  probe "GoogleTest: system ($(sed -n 's/.*probe GTest=[^ ]* //p' "$LOGS/deps-probe.log"))"
else
  unpack GoogleTest 'libgtest-dev_*.deb'
fi
found OpenMP || probe "OpenMP: not found by CMake (the compiler's libgomp; not carried): configure will fail"
if command -v pkg-config >/dev/null 2>&1; then
  probe "pkg-config: system ($(command -v pkg-config))"
else
  unpack pkg-config 'pkgconf_*.deb' 'pkgconf-bin_*.deb' 'libpkgconf3_*.deb'
  # pkgconf needs its library: the names in PREFIX/usr/bin (which CMake
  # searches first, through CMAKE_PREFIX_PATH) become wrappers that set
  # LD_LIBRARY_PATH for it alone.
  if [ -x "$PREFIX/usr/bin/pkgconf" ]; then
    mkdir -p "$DEPS/libexec"
    mv "$PREFIX/usr/bin/pkgconf" "$DEPS/libexec/pkgconf"
    find "$PREFIX/usr/bin" -type l -delete
    for name in pkgconf pkg-config; do
      printf '#!/bin/sh\nLD_LIBRARY_PATH="%s${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "%s" "$@"\n' \
        "$PREFIX/usr/lib/$MULTIARCH" "$DEPS/libexec/pkgconf" > "$PREFIX/usr/bin/$name"
      chmod +x "$PREFIX/usr/bin/$name"
    done
    export PATH="$PREFIX/usr/bin:$PATH"
  fi
fi
if [ -d "$PREFIX/usr" ]; then
  export CMAKE_PREFIX_PATH="$PREFIX/usr${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
  export PKG_CONFIG_PATH="$PREFIX/usr/lib/$MULTIARCH/pkgconfig:$PREFIX/usr/share/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
fi

# ---------------------------------------------------------------- build
note ""
cuda_compiler=()
[ -n "$NVCC" ] && cuda_compiler=(-DCMAKE_CUDA_COMPILER="$NVCC")
run_step cpu "configure (Release, CUDA on, OpenCV off, sm_90, Ninja)" 240 configure.log \
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release "${cuda_compiler[@]}" \
  -DVISIONRT_WITH_CUDA=ON -DVISIONRT_WITH_OPENCV=OFF -DCMAKE_CUDA_ARCHITECTURES=90
configured=$?
sed -n '/visionrt: CUDA=/,/^-- [^ ]/p' "$LOGS/configure.log" | grep -v '^-- [^v]' | sed 's/^-- /  /' | tee -a "$SUMMARY"
grep -h "cuDNN from" "$LOGS/configure.log" | sed 's/^-- /  /' | tee -a "$SUMMARY"
((configured == 0)) || exit
cudnn_lib=$(sed -n 's/^VISIONRT_CUDNN_LIBRARY:FILEPATH=//p' "$BUILD/CMakeCache.txt")
note "  cuDNN: $cudnn_lib"
# cuDNN from the wheel loads its engine libraries from its own folder.
if [ -n "$PURELIB" ] && [[ $cudnn_lib == "$PURELIB"/* ]]; then
  LD_LIBRARY_PATH="$(dirname "$cudnn_lib")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export LD_LIBRARY_PATH
fi

# Only what runs: the tests, the tool (and its library and the CUDA
# backend), and the kernel benchmark where there is a GPU to run it.
targets=(visionrt_cli visionrt_cuda visionrt_tests visionrt_cuda_tests visionrt_allocation_tests)
((GPU)) && targets+=(bench_kernels)
run_step cpu "build ($JOBS jobs: ${targets[*]})" "$LIMIT" build.log \
  cmake --build "$BUILD" -j "$JOBS" --target "${targets[@]}" || exit
# The GPU tests are a binary of their own (tests/CMakeLists.txt).
TESTS="$BUILD/tests/visionrt_cuda_tests"

# --------------------------------------------------------- the GPU tests
# GPU test suites: those whose tests call VRT_REQUIRE_CUDA, and Cuda*.
gpu_suites=$(awk '
  FNR == 1 { suite = "" }
  /^[ \t]*(TEST|TEST_F|TEST_P|TYPED_TEST|TYPED_TEST_P)\(/ {
    suite = $0; sub(/^[ \t]*[A-Z_]+\([ \t]*/, "", suite); sub(/[ \t]*,.*/, "", suite)
    if (suite ~ /^Cuda/) gpu[suite] = 1
  }
  /VRT_REQUIRE_CUDA\(\)/ && suite != "" { gpu[suite] = 1 }
  END { for (s in gpu) print s }' "$ROOT"/tests/*.cpp "$ROOT"/tests/cuda/*.cpp | sort)
# The suites as the binary lists them ("Prefix/Suite" for parameterised ones).
"$TESTS" --gtest_list_tests > "$LOGS/test-list.txt" 2>&1 \
  || { record "list the tests (see test-list.txt)" "FAILED"; failed=$((failed + 1)); exit; }
listed=$(grep -v '^ ' "$LOGS/test-list.txt" | sed 's/\.[[:space:]]*\(#.*\)\{0,1\}$//' | grep -v '^$')
kernel_suites=() model_suites=()
while IFS= read -r s; do
  base=${s##*/}
  grep -qx "$base" <<<"$gpu_suites" || continue
  if [[ $base == Cuda* ]]; then model_suites+=("$s"); else kernel_suites+=("$s"); fi
done <<<"$listed"
OOM='*OutOfDeviceMemory*'
note ""
note "GPU test suites: ${#kernel_suites[@]} kernel suites, ${#model_suites[@]} model suites; $OOM alone"
gtest_step() {  # KIND NAME LOG FILTER WANT
  run_step "$1" "$2" "$5" "$3" "$TESTS" --gtest_filter="$4" --gtest_output="xml:$LOGS/${3%.log}.xml"
}
for s in "${kernel_suites[@]}"; do
  gtest_step gpu "gpu tests: $s" "gpu-${s//\//-}.log" "$s.*-$OOM" 120
done
gtest_step gpu "gpu tests: out of device memory (alone)" gpu-out-of-memory.log "$OOM" 90
for s in "${model_suites[@]}"; do
  gtest_step gpu "gpu model tests: $s" "gpu-model-${s//\//-}.log" "$s.*-$OOM" 180
done

# ------------------------------------------------------------ benchmarks
note ""
run_step "gpu opt" "ViT-B/16: visionrt bench and torch eager (fp32, fp16; batch 1, 64, 256)" 150 peers-vit.log \
  python3 "$ROOT/tools/bench/peers_gpu.py" --visionrt "$BUILD/visionrt" --precisions fp32,fp16 --batches 1,64,256 --no-compile
run_step "gpu opt" "DETR-R50: visionrt bench and torch eager (fp32, fp16; batch 1, 8)" 120 peers-detr.log \
  python3 "$ROOT/tools/bench/peers_gpu.py" --visionrt "$BUILD/visionrt" --model detr-r50 --precisions fp32,fp16 --batches 1,8 --no-compile
run_step "gpu opt" "RT-DETR-R50vd: visionrt bench and torch eager (fp32, fp16; batch 1, 32)" 150 peers-rtdetr.log \
  python3 "$ROOT/tools/bench/peers_gpu.py" --visionrt "$BUILD/visionrt" --model rtdetr-r50vd --precisions fp32,fp16 --batches 1,32 --no-compile
run_step "gpu opt" "D-FINE-S: visionrt bench and torch eager (fp32, fp16; batch 1, 32)" 120 peers-dfine.log \
  python3 "$ROOT/tools/bench/peers_gpu.py" --visionrt "$BUILD/visionrt" --model dfine-s --precisions fp32,fp16 --batches 1,32 --no-compile
run_step gpu "kernel benchmark (bench_kernels)" 120 bench-visionrt.log \
  sh -c '"$1" --csv > "$2"' sh "$BUILD/bench_kernels" "$LOGS/bench-visionrt.csv"
run_step "gpu opt" "kernel benchmark, torch peer (peer_torch_kernels.py)" 120 bench-torch.log \
  sh -c 'python3 "$1" --csv > "$2"' sh "$ROOT/tools/bench/peer_torch_kernels.py" "$LOGS/bench-torch.csv"

# ------------------------------------------------------ compute-sanitizer
# Over the project's own kernels (not cuBLASLt's or cuDNN's): racecheck
# (shared-memory hazards) on the small cases, then memcheck. An error report
# fails the check; running out of time is noted. They leave the CPU tests
# after them CPU_RESERVE seconds (about what those take on 16 cores).
CPU_RESERVE=60
upto() { local w=$(($(left) - CPU_RESERVE)); echo $((w < $1 ? w : $1)); }
note ""
own_kernels="*Kernel*-*GemmLt*:*ConvKernel*:*Params*:$OOM"
racecheck_cases='*AttentionKernel*tails*:*AttentionKernel*one_token*:*exact_tiles*:*LayerNormKernel*w770*:*SinePositionKernel*detr_padding*'
if [ -z "$SANITIZER" ] && ((GPU)); then
  record "compute-sanitizer: not found" "FAILED"
  failed=$((failed + 1))
else
  run_step "gpu cutok" "compute-sanitizer racecheck (small cases)" "$(upto 120)" sanitizer-racecheck.log \
    "${SANITIZER:-compute-sanitizer}" --tool racecheck --error-exitcode 99 "$TESTS" --gtest_filter="$racecheck_cases"
  run_step "gpu cutok" "compute-sanitizer memcheck (the project's kernels)" "$(upto 180)" sanitizer-memcheck.log \
    "${SANITIZER:-compute-sanitizer}" --tool memcheck --error-exitcode 99 "$TESTS" --gtest_filter="$own_kernels"
fi

# ---------------------------------------------------------- CPU remainder
note ""
gpu_regex=$(paste -sd'|' <<<"$gpu_suites")
exclude="^([^/.]*/)?(${gpu_regex:-none-at-all})\\."
remaining=$(left)
run_step cpu "CPU remainder: ctest without the GPU suites (-j $JOBS)" "$remaining" ctest.log \
  ctest --test-dir "$BUILD" -j "$JOBS" -E "$exclude" --timeout "$((remaining > 600 ? 600 : remaining))" --output-on-failure
grep -E "tests passed|tests failed" "$LOGS/ctest.log" | sed 's/^/  ctest: /' | tee -a "$SUMMARY"
sed -n '/The following tests FAILED/,$p' "$LOGS/ctest.log" | head -n 20 | sed 's/^/  /' | tee -a "$SUMMARY"
if [ -s "$BUILD/Testing/Temporary/LastTest.log" ]; then
  bash "$ROOT/tools/ci/check_test_skips.sh" "$BUILD" 2>&1 | grep -E '^ +[0-9]+ ' | sed 's/^ */  skipped: /' | tee -a "$SUMMARY"
fi

# ----------------------------------------- torch.compile, when time is left
if ((GPU == 0 || $(left) >= 150)); then
  run_step "gpu opt" "ViT-B/16 fp16 with torch.compile (batch 1, 64)" "$(($(left) - 20))" peers-vit-compile.log \
    python3 "$ROOT/tools/bench/peers_gpu.py" --visionrt "$BUILD/visionrt" --precisions fp16 --batches 1,64
elif ((GPU)); then
  record "ViT-B/16 fp16 with torch.compile: not run, $(left) s left" "CUT"
fi

# ---------------------------------------------------------------- tables
if ((GPU)); then
  note ""
  note "=== whole models (torch/visionrt > 1: visionrt faster)"
  for f in peers-vit.log peers-detr.log peers-vit-compile.log; do
    [ -s "$LOGS/$f" ] && grep -E '^(precision|fp32|fp16|bf16) |; (vit|detr) ' "$LOGS/$f" | tee -a "$SUMMARY"
  done
  note ""
  note "=== kernels (torch/visionrt > 1: visionrt faster)"
  python3 - "$LOGS/bench-visionrt.csv" "$LOGS/bench-torch.csv" <<'EOF' 2>&1 | tee -a "$SUMMARY"
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
fi
exit
