#!/usr/bin/env bash
# Lists the tests of a ctest run that were skipped, by reason, and fails when
# one was skipped for a reason a full build does not allow. Only two are:
# no GPU on this machine, and the full-size reference models that are made on
# demand (tools/make_*_fixtures.py --base/--large). A full build skipping a
# test for anything else (a part built without, a missing file) has left
# something untested.
#
#   bash tools/check_test_skips.sh BUILD_DIR
set -euo pipefail

log="${1:?usage: check_test_skips.sh BUILD_DIR}/Testing/Temporary/LastTest.log"
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
cut -f2 <<<"$skipped" | sed -E 's/^(no CUDA device|not generated): .*/\1/' | sort | uniq -c
disallowed=$(grep -v -P '\t(no CUDA device|not generated): ' <<<"$skipped" || true)
if [[ -n $disallowed ]]; then
  echo "check_test_skips: these were skipped for a reason a full build does not allow:" >&2
  sed 's/^/  /' <<<"$disallowed" >&2
  exit 1
fi
