#!/usr/bin/env bash
# Everything CI runs, in order: the README's test command (tools/test.sh:
# both builds' test suites, the Python package's and the serving tests);
# the README's multi-node serving recipe on two Ray nodes in network
# namespaces (tools/test_serve_cluster.sh, as root); the CPU test suite
# under AddressSanitizer + UndefinedBehaviorSanitizer and the threaded tests
# under ThreadSanitizer (tools/sanitize.sh); then each libFuzzer target for
# FUZZ_SECONDS (tools/fuzz.sh; 60 by default here).
#
#   bash tools/ci.sh [test] [cluster] [sanitize] [fuzz]     # default: all four
#
# CI_EXTRA_CA_PEM: certificates (PEM) to add to the system's trust store
# first, for a network whose HTTPS goes through an inspecting proxy, as on
# the machine .ci/run starts from; pip then reaches PyPI through it.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
steps=("$@")
((${#steps[@]})) || steps=(test cluster sanitize fuzz)
for step in "${steps[@]}"; do
  case $step in
    test | cluster | sanitize | fuzz) ;;
    *) echo "ci: unknown step '$step' (test, cluster, sanitize, fuzz)" >&2; exit 2 ;;
  esac
done

if [[ -n ${CI_EXTRA_CA_PEM:-} ]]; then
  source tools/apt_packages.sh
  install_packages ci ca-certificates
  sudo=()
  ((EUID == 0)) || sudo=(sudo)
  # One certificate a file, as update-ca-certificates expects.
  printf '%s\n' "$CI_EXTRA_CA_PEM" | "${sudo[@]}" awk '
    /-----BEGIN CERTIFICATE-----/ { n++; out = sprintf("/usr/local/share/ca-certificates/ci-extra-%d.crt", n) }
    n { print > out }
    /-----END CERTIFICATE-----/ { close(out) }'
  "${sudo[@]}" update-ca-certificates >/dev/null 2>&1
  echo "ci: added $(grep -c 'BEGIN CERTIFICATE' <<<"$CI_EXTRA_CA_PEM") certificate(s) to the system's trust store"
fi

for step in "${steps[@]}"; do
  case $step in
    test) bash tools/test.sh ;;
    cluster) bash tools/test_serve_cluster.sh ;;
    sanitize) bash tools/sanitize.sh ;;
    fuzz) FUZZ_SECONDS=${FUZZ_SECONDS:-60} bash tools/fuzz.sh ;;
  esac
done
