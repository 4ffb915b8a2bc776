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
# The Python suite runs once per executor mode: the default tiers (traces compiled by the baseline tier), the
# fastpy interpreter alone (FASTPY_TIERS=interp: no compilation, every eligible frame interpreted), and traces
# run by the IR reference executor (interp,ir) and by the baseline tier (interp,baseline) with every threshold
# at its minimum, so that every loop that can be traced is, at its first back-edge. The compatibility harness
# always runs at minimum thresholds; its default mode is the baseline tier's, so it runs in three modes.
min_thresholds="FASTPY_HOT_LOOP=1 FASTPY_HOT_EXIT=1 FASTPY_HOOK_LIFT=1"
for tiers in default interp interp,ir interp,baseline; do
  if [ "$tiers" = default ]; then set --; else set -- "FASTPY_TIERS=$tiers"; fi
  echo "== Python tests (tiers: $tiers)"
  case "$tiers" in
    interp,*)
      # shellcheck disable=SC2086
      env "$@" $min_thresholds "$here/bin/python" -m pytest -q -p no:cacheprovider "$here/tests/python" ;;
    *)
      env "$@" "$here/bin/python" -m pytest -q -p no:cacheprovider "$here/tests/python" ;;
  esac
  [ "$tiers" = interp,baseline ] && continue   # = the default mode's harness run
  echo "== CPython's regression tests under fastpy (tiers: $tiers, all thresholds at their minimum)"
  "$here/bin/python" "$here/tests/conformance/run.py" -j "$(nproc)" ${1:+--env "$1"}
done
