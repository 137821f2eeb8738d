#!/usr/bin/env bash
# Fails when a test can pass having checked nothing: skipped for a reason a
# full build does not allow, or returning at its start.
#
# C++ (tests/*.cpp, tests/cuda/*.cpp): lists the tests of a ctest run that
# were skipped, by reason, and fails when one was skipped for a reason a full
# build does not allow. Only three are, what the machine cannot have: no GPU
# ("no CUDA device"), no BF16 products on this CPU ("no BF16 on this CPU"),
# and the full-size reference models that are made on demand ("not
# generated": tools/fixtures/make_*_fixtures.py --base/--large). A full build
# skipping a test for anything else (a part built without, a missing file)
# has left something untested. It also fails on a test that returns early at
# its start (`if (...) return;` as its first statement, or right after a
# VRT_REQUIRE_* guard): such a test passes having checked nothing, where it
# must skip with its reason.
#
# Python (tests/python, tests/python_serve): these run in one configuration
# only, the full one of tools/test.sh, so their sources are checked: every
# pytest.skip, pytest.mark.skip/skipif/xfail, pytest.importorskip and
# pytest.xfail (and unittest's skip forms) must give its reason as a string
# whose start is one of the allowed ones, what the machine cannot have or
# cannot lack: "no usable GPU", "a GPU is usable" (a test of the no-GPU path)
# and "no CUDA compiler on this machine" (nothing to build the CUDA backend
# with). A missing promised part (the image front end, the command-line tool,
# torch) fails the test instead. A test function whose first statement
# (after its docstring) is `return` or `if ...: return` fails the check too.
#
#   bash tools/ci/check_test_skips.sh             # the sources only
#   bash tools/ci/check_test_skips.sh BUILD_DIR   # and that build's ctest run
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

guards=$(cd "$root" && awk '/^ *TEST(_P|_F)?\(/ { start = FNR; next }
              start && FNR == start + 1 && /^ *VRT_REQUIRE_[A-Z0-9_]*\(\);/ { start = FNR; next }
              start && FNR == start + 1 && /^ *if \(.*\) return;/ { print FILENAME ":" FNR ": " $0 }
              { start = 0 }' tests/*.cpp tests/cuda/*.cpp)
if [[ -n $guards ]]; then
  echo "check_test_skips: these tests return at their start instead of skipping with a reason:" >&2
  sed 's/^/  /' <<<"$guards" >&2
  exit 1
fi

(cd "$root" && python3 - tests/python/*.py tests/python_serve/*.py) <<'EOF'
import ast
import sys
from collections import Counter

ALLOWED = ("no usable GPU", "a GPU is usable", "no CUDA compiler on this machine")
SKIPS = {"skip", "skipif", "xfail", "importorskip", "skipIf", "skipUnless", "SkipTest"}


def text(node):
    """The literal start of a reason: a string, or an f-string's text before its first field."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        start = ""
        for part in node.values:
            if not (isinstance(part, ast.Constant) and isinstance(part.value, str)):
                break
            start += part.value
        return start or None
    return None


def reason(call, name):
    """The reason a skip call gives, or None where it gives none as a string."""
    keywords = {k.arg: k.value for k in call.keywords}
    if "reason" in keywords or "msg" in keywords:
        return text(keywords.get("reason", keywords.get("msg")))
    marker = isinstance(call.func, ast.Attribute) and isinstance(call.func.value, ast.Attribute) \
        and call.func.value.attr == "mark"
    if name in ("skipIf", "skipUnless"):
        return text(call.args[1]) if len(call.args) > 1 else None
    if name in ("skip", "SkipTest") or (name == "xfail" and not marker):
        return text(call.args[0]) if call.args else None
    return None  # skipif, a marker's xfail and importorskip take their reason by keyword only


found, wrong = Counter(), []
for path in sys.argv[1:]:
    tree = ast.parse(open(path).read(), path)
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "attr", getattr(node.func, "id", None))
            if name in SKIPS:
                why = reason(node, name)
                if why is None:
                    wrong.append(f"{path}:{node.lineno}: {name} without a reason given as a string")
                elif not why.startswith(ALLOWED):
                    wrong.append(f"{path}:{node.lineno}: {name}: {why!r}")
                else:
                    found[next(a for a in ALLOWED if why.startswith(a))] += 1
        elif isinstance(node, ast.Attribute) and node.attr in SKIPS and id(node) not in called \
                and isinstance(node.value, ast.Attribute) and node.value.attr == "mark":
            wrong.append(f"{path}:{node.lineno}: mark.{node.attr} without a reason")
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                body = body[1:]
            first = body[0] if body else None
            if isinstance(first, ast.Return) or (isinstance(first, ast.If)
                                                 and any(isinstance(s, ast.Return) for s in first.body)):
                wrong.append(f"{path}:{first.lineno}: {node.name} returns at its start instead of skipping "
                             "with a reason")

if wrong:
    print("check_test_skips: these Python tests skip for a reason the full run does not allow, or return "
          f"at their start (allowed: {', '.join(map(repr, ALLOWED))}):", file=sys.stderr)
    for line in sorted(wrong, key=lambda w: (w.split(":")[0], int(w.split(":")[1]))):
        print(f"  {line}", file=sys.stderr)
    sys.exit(1)
print(f"check_test_skips: Python skips in {len(sys.argv) - 1} files, all for allowed reasons: "
      + (", ".join(f"{n} {r!r}" for r, n in sorted(found.items())) or "none"))
EOF

[[ -n ${1:-} ]] || exit 0
log="$1/Testing/Temporary/LastTest.log"
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
