#!/usr/bin/env bash
# Builds visionrt with sanitizers and runs its tests under them.
#
#   bash tools/ci/sanitize.sh [asan|tsan|all]   (default: all)
#
# asan: AddressSanitizer, LeakSanitizer and UndefinedBehaviorSanitizer (gcc),
#   in build-asan/ with OpenCV and oneDNN, over the whole CPU test suite, the
#   command-line tool and the install test (whose consumers are built with the
#   same flags) included; skips are checked as tools/test.sh checks them.
# tsan: ThreadSanitizer (gcc), in build-tsan/, over the tests that run
#   threads (see tsan_tests below), on LLVM's OpenMP runtime, libomp, instead
#   of gcc's libgomp (libomp runs gcc's OpenMP calls too): libomp tells
#   ThreadSanitizer about its barriers and locks through libarcher, libgomp
#   does not, and every parallel loop's writes, read after the loop, would be
#   reported as races. oneDNN is left out of this build: Debian's is
#   built on libgomp, and two OpenMP runtimes cannot share one process; the
#   CPU backend's own kernels run instead, on the same parallel loops.
#   OpenCV is left out too: no threaded test decodes images.
#
# Third-party reports are suppressed by library or function name in
# tests/sanitizers/, each with its reason. Prints one summary line per run
# and exits non-zero when a test fails or a sanitizer reports.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
what=${1:-all}
case $what in asan | tsan | all) ;; *) echo "usage: tools/ci/sanitize.sh [asan|tsan|all]" >&2; exit 2 ;; esac
supp=$PWD/tests/sanitizers

# tools/setup/setup.sh's packages; gcc's sanitizer runtimes, named although
# build-essential brings them; libomp, with libarcher, for the TSan run;
# python3, with which tools/ci/check_test_skips.sh reads the Python tests.
packages=(build-essential cmake ninja-build pkg-config nlohmann-json3-dev libgtest-dev libdnnl-dev
          libopencv-core-dev libopencv-imgproc-dev libopencv-imgcodecs-dev libjpeg-dev zlib1g-dev
          libasan8 libubsan1 libtsan2 libomp-dev python3)
source tools/setup/apt_packages.sh
install_packages sanitize "${packages[@]}"

# Runs ctest on build dir $1 with the rest as ctest options, keeping its
# output in $1/sanitize.log; sets `summary` to "N tests, F failed, R reports"
# (R: sanitizer reports in that output, the tool's and consumers' included
# where a test shows their stderr).
run_ctest() {
  local dir=$1 rc=0
  shift
  ctest --test-dir "$dir" --output-on-failure -j2 "$@" 2>&1 | tee "$dir/sanitize.log" || rc=$?
  local total failed reports
  total=$(sed -nE 's/.* tests failed out of ([0-9]+)$/\1/p' "$dir/sanitize.log")
  failed=$(sed -nE 's/.*, ([0-9]+) tests failed out of.*/\1/p' "$dir/sanitize.log")
  reports=$(grep -cE '^(==[0-9]+==ERROR: |WARNING: ThreadSanitizer)|: runtime error: ' "$dir/sanitize.log" || true)
  summary="${total:-?} tests, ${failed:-?} failed, $reports reports"
  ((rc == 0 && reports == 0))
}

failures=()

run_asan() {
  local start=$SECONDS ok=1
  local flags="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
  # -O1 -g: fast enough for the suite, exact enough for the reports' stacks;
  # assertions stay on.
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER=gcc -DCMAKE_CXX_COMPILER=g++ \
    -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" \
    -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
    -DCMAKE_EXE_LINKER_FLAGS="$flags" -DCMAKE_SHARED_LINKER_FLAGS="$flags" \
    -DVISIONRT_WITH_CUDA=OFF -DVISIONRT_WITH_OPENCV=ON -DVISIONRT_WITH_ONEDNN=ON
  # Exported before the build: test discovery runs the test programs. The
  # tests' child processes (the tool, the install test's consumers) inherit
  # them; exit code 99 on a report, as the tool's own codes are 0 to 2 and a
  # test expecting 1 must not take a report for it. No
  # detect_stack_use_after_return: GCC 12 lays out its frames for a 64-byte
  # aligned stack but places them 32-byte aligned on the fake stack, and the
  # AVX-512 kernels' aligned stores to locals then fault.
  export ASAN_OPTIONS=exitcode=99:detect_leaks=1:check_initialization_order=1:strict_init_order=1:strict_string_checks=1
  export LSAN_OPTIONS=suppressions=$supp/lsan.supp:print_suppressions=0
  export UBSAN_OPTIONS=exitcode=99:print_stacktrace=1:halt_on_error=1
  cmake --build build-asan --parallel 2
  # Not the peak-memory test: under ASan the peak is the sanitizer's
  # (quarantine, shadow), not the decoder's; the plain build runs it.
  run_ctest build-asan -E '^HostileInputs\.DecodingPeaksAtTwiceTheRgbImage$' || ok=0
  bash tools/ci/check_test_skips.sh build-asan || ok=0
  echo "sanitize: asan+ubsan: $summary ($((SECONDS - start)) s)"
  ((ok)) || failures+=(asan)
}

# The tests that run threads: the concurrency contract, the parallel loops of
# the CPU kernels (ops, blocked GEMM, each instruction set's kernels), the
# shared executors and weights, and whole models on two threads; not the
# full-size reference models where they have been made (minutes under TSan,
# for the same code as the committed small ones).
tsan_tests='^(ConcurrencyTest|BackendOpsTest|CpuIsaTest|PreparedWeightsTest|ExecutorCacheTest|VitReferenceTest|DetrReferenceTest|RtDetrReferenceTest)\.'

run_tsan() {
  local start=$SECONDS ok=1 llvm=/usr/lib/llvm-14/lib  # libomp-dev's
  local flags="-fsanitize=thread -fno-omit-frame-pointer"
  # gcc compiles the OpenMP pragmas as usual; the program links libomp.
  cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER=gcc -DCMAKE_CXX_COMPILER=g++ \
    -DOpenMP_CXX_FLAGS=-fopenmp -DOpenMP_CXX_LIB_NAMES=omp -DOpenMP_omp_LIBRARY=$llvm/libomp.so \
    -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" \
    -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
    -DCMAKE_EXE_LINKER_FLAGS="$flags" -DCMAKE_SHARED_LINKER_FLAGS="$flags" \
    -DVISIONRT_WITH_CUDA=OFF -DVISIONRT_WITH_OPENCV=OFF -DVISIONRT_WITH_ONEDNN=OFF \
    -DVISIONRT_BUILD_CLI=OFF
  export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppressions=$supp/tsan.supp
  # Named: libomp looks for it on the library path only, where it is not.
  export OMP_TOOL_LIBRARIES=$llvm/libarcher.so
  cmake --build build-tsan --parallel 2 --target visionrt_tests
  # Without libarcher every parallel loop would be reported as racing: make
  # sure it starts before trusting any report.
  local probe
  probe=$(ARCHER_OPTIONS=verbose=1 build-tsan/tests/visionrt_tests --gtest_filter='BackendOpsTest.BlockedGemm*' 2>&1) || true
  [[ $probe == *"Archer detected"* ]] || { echo "sanitize: libarcher did not start ($OMP_TOOL_LIBRARIES)" >&2; exit 1; }
  run_ctest build-tsan -R "$tsan_tests" -E WhenPresent || ok=0
  echo "sanitize: tsan: $summary ($((SECONDS - start)) s)"
  ((ok)) || failures+=(tsan)
}

[[ $what == tsan ]] || run_asan
[[ $what == asan ]] || run_tsan
if ((${#failures[@]})); then
  echo "sanitize: failed: ${failures[*]}" >&2
  exit 1
fi
