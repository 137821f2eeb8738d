#!/usr/bin/env bash
# Everything CI runs, in order: the README's test command (tools/test.sh:
# both builds' test suites), the CPU test
# suite under AddressSanitizer + UndefinedBehaviorSanitizer and the threaded
# tests under ThreadSanitizer (tools/sanitize.sh), then each libFuzzer target
# for FUZZ_SECONDS (tools/fuzz.sh; 60 by default here).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash tools/test.sh
bash tools/sanitize.sh
FUZZ_SECONDS=${FUZZ_SECONDS:-60} bash tools/fuzz.sh
