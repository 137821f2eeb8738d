#!/usr/bin/env bash
# Everything CI runs, in order: the README's test command (tools/test.sh:
# both builds' test suites, the Python package's and the serving tests);
# the README's multi-node serving recipe on two Ray nodes in network
# namespaces (tools/ci/test_serve_cluster.sh, as root); the CPU test suite
# under AddressSanitizer + UndefinedBehaviorSanitizer and the threaded tests
# under ThreadSanitizer (tools/ci/sanitize.sh); then each libFuzzer target for
# FUZZ_SECONDS (tools/ci/fuzz.sh; 60 by default here).
#
#   bash tools/ci/ci.sh [test] [cluster] [sanitize] [fuzz]  # default: all four
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
steps=("$@")
((${#steps[@]})) || steps=(test cluster sanitize fuzz)
for step in "${steps[@]}"; do
  case $step in
    test | cluster | sanitize | fuzz) ;;
    *) echo "ci: unknown step '$step' (test, cluster, sanitize, fuzz)" >&2; exit 2 ;;
  esac
done

for step in "${steps[@]}"; do
  case $step in
    test) bash tools/test.sh ;;
    cluster) bash tools/ci/test_serve_cluster.sh ;;
    sanitize) bash tools/ci/sanitize.sh ;;
    fuzz) FUZZ_SECONDS=${FUZZ_SECONDS:-60} bash tools/ci/fuzz.sh ;;
  esac
done
