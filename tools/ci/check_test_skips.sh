#!/usr/bin/env bash
# Lists the tests of a ctest run that were skipped, by reason, and fails when
# one was skipped for a reason a full build does not allow. Only three are,
# what the machine cannot have: no GPU, no BF16 products on this CPU, and the
# full-size reference models that are made on demand (tools/fixtures/make_*_fixtures.py
# --base/--large). A full build skipping a test for anything else (a part
# built without, a missing file) has left something untested. It also fails
# on a test that returns early at its start (`if (...) return;` as its first
# statement, or right after a VRT_REQUIRE_* guard): such a test passes having
# checked nothing, where it must skip with its reason.
#
#   bash tools/ci/check_test_skips.sh BUILD_DIR
set -euo pipefail

log="${1:?usage: check_test_skips.sh BUILD_DIR}/Testing/Temporary/LastTest.log"

guards=$(awk '/^ *TEST(_P|_F)?\(/ { start = FNR; next }
              start && FNR == start + 1 && /^ *VRT_REQUIRE_[A-Z0-9_]*\(\);/ { start = FNR; next }
              start && FNR == start + 1 && /^ *if \(.*\) return;/ { print FILENAME ":" FNR ": " $0 }
              { start = 0 }' "$(dirname "${BASH_SOURCE[0]}")"/../../tests/*.cpp "$(dirname "${BASH_SOURCE[0]}")"/../../tests/cuda/*.cpp)
if [[ -n $guards ]]; then
  echo "check_test_skips: these tests return at their start instead of skipping with a reason:" >&2
  sed 's/^/  /' <<<"$guards" >&2
  exit 1
fi
[[ -s $log ]] || { echo "check_test_skips: no ctest log at $log" >&2; exit 2; }

# One line per skipped test: its name, a tab, the reason it printed (Google
# Test's message after "Skipped", or the install test's own line).
skipped=$(awk '
  /^[0-9]+\/[0-9]+ Test: / { name = $0; sub(/^[0-9]+\/[0-9]+ Test: /, "", name); reason = ""; next }
  /: Skipped$/ { getline; if (reason == "") reason = $0; next }
  /visionrt install test skipped: / { if (reason == "") { reason = $0; sub(/.*install test skipped: /, "", reason) } }
  /^Skip regular expression found in output/ { print name "\t" (reason == "" ? "(no reason printed)" : reason) }
' "$log")

if [[ -z $skipped ]]; then
  echo "check_test_skips: no test skipped"
  exit 0
fi
echo "check_test_skips: skipped tests by reason"
cut -f2 <<<"$skipped" | sed -E 's/^(no CUDA device|no BF16 on this CPU|not generated): .*/\1/' | sort | uniq -c
disallowed=$(grep -v -P '\t(no CUDA device|no BF16 on this CPU|not generated): ' <<<"$skipped" || true)
if [[ -n $disallowed ]]; then
  echo "check_test_skips: these were skipped for a reason a full build does not allow:" >&2
  sed 's/^/  /' <<<"$disallowed" >&2
  exit 1
fi
