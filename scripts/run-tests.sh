#!/usr/bin/env bash
# Run the whole suite as two pytest processes side by side on a 2-core machine: the container
# tests (mostly waiting on podman) and everything else. They share nothing: every test has its
# own GT_HOME, container tests use their own town names. Both outputs are printed in full,
# then one combined closing line; the exit status is non-zero if either run failed or if no
# test ran at all (pytest's "no tests" status 5 counts as a failure here).
#
# Usage: scripts/run-tests.sh [extra pytest args]   (PY: the interpreter, default .venv/bin/python)
set -uo pipefail
cd "$(dirname "$0")/.."
py="${PY:-.venv/bin/python}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

"$py" -m pytest -q -rs -p no:cacheprovider -m podman --junitxml="$out/podman.xml" "$@" >"$out/podman.log" 2>&1 &
pod=$!
"$py" -m pytest -q -rs -p no:cacheprovider -m "not podman" --junitxml="$out/rest.xml" "$@" >"$out/rest.log" 2>&1 &
rest=$!
wait "$pod"; rc_pod=$?
wait "$rest"; rc_rest=$?

echo "=== container tests (pytest -m podman) ==="
cat "$out/podman.log"
echo "=== all other tests (pytest -m 'not podman') ==="
cat "$out/rest.log"

"$py" - "$out/podman.xml" "$out/rest.xml" <<'EOF'
import sys
import xml.etree.ElementTree as ET

tests = failures = errors = skipped = 0
for path in sys.argv[1:]:
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        continue
    for suite in root.iter("testsuite"):
        tests += int(suite.get("tests", 0))
        failures += int(suite.get("failures", 0))
        errors += int(suite.get("errors", 0))
        skipped += int(suite.get("skipped", 0))
passed = tests - failures - errors - skipped
print(f"{passed} passed, {failures + errors} failed, {skipped} skipped")
EOF

status=0
for rc in "$rc_pod" "$rc_rest"; do
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 5 ]; then status=1; fi
done
if [ "$rc_pod" -eq 5 ] && [ "$rc_rest" -eq 5 ]; then
  echo "no tests collected" >&2
  status=1
fi
exit $status
