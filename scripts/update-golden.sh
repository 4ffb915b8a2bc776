#!/bin/sh
# Regenerates the golden trace-IR files tests/golden/<name>.ir from tests/golden/<name>.py with the
# driver tests/python/test_golden.py uses (tests/golden/_driver.py, FASTPY_TIERS=interp,ir,
# FASTPY_HOT_LOOP=10), and prints which ones changed. Read the diff before committing it.
#
# usage: scripts/update-golden.sh            # every case
#        scripts/update-golden.sh NAME...    # only these (NAME or tests/golden/NAME.py)
# Build first (scripts/build.sh). Exit status 1 when the driver fails for a case (its .ir is kept).
set -u
here=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
dir="$here/tests/golden"
py="$here/bin/python"
if [ "$#" -eq 0 ]; then
  for f in "$dir"/*.py; do
    n=$(basename "$f" .py)
    case "$n" in _*) continue ;; esac
    set -- "$@" "$n"
  done
fi
status=0
changed=0
tmp=$(mktemp) || exit 1
trap 'rm -f "$tmp"' EXIT INT TERM
for arg in "$@"; do
  n=$(basename "$arg" .py)
  n=$(basename "$n" .ir)
  if [ ! -f "$dir/$n.py" ]; then
    echo "no such case: $dir/$n.py" >&2
    status=1
    continue
  fi
  if ! "$py" "$dir/_driver.py" "$n" > "$tmp"; then
    echo "FAILED:    $n (kept $n.ir)" >&2
    status=1
    continue
  fi
  if [ ! -f "$dir/$n.ir" ]; then
    cp "$tmp" "$dir/$n.ir"
    echo "new:       $n.ir"
    changed=$((changed + 1))
  elif ! cmp -s "$tmp" "$dir/$n.ir"; then
    cp "$tmp" "$dir/$n.ir"
    echo "changed:   $n.ir"
    changed=$((changed + 1))
  fi
done
echo "$changed file(s) written"
exit "$status"
