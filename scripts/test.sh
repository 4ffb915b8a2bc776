#!/bin/sh
# Installs what is missing, builds, and runs every test: C++ unit tests (ctest), the Python suite (pytest)
# and CPython's own regression tests under fastpy (tests/conformance). Exit status 0 only if all pass.
set -eu
here=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
build=${FASTPY_BUILD_DIR:-$here/build}
"$here/scripts/install-deps.sh"
"$here/scripts/build.sh"
echo "== C++ unit tests"
(cd "$build" && ctest --output-on-failure -j "$(nproc)")
echo "== Python tests"
"$here/bin/python" -m pytest -q -p no:cacheprovider "$here/tests/python"
echo "== CPython's regression tests under fastpy (all thresholds at their minimum)"
"$here/bin/python" "$here/tests/conformance/run.py" -j "$(nproc)"
