#!/bin/sh
# Regenerates the parts of docs/ that derive from the tables (runtime/params.def, runtime/stats.def).
# tests/python/test_params.py fails when they are stale.
set -eu
here=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
py="$here/bin/python"
{
  echo "# Parameters"
  echo
  echo "Generated from \`runtime/params.def\` by \`scripts/update-docs.sh\`; do not edit by hand."
  echo "Set them as environment variables (read when \`fastpy\` is imported) or with"
  echo "\`fastpy.config(name=value)\`. A bad value is an error naming the variable, the value and what is"
  echo "accepted: \`python -m fastpy\` exits with status 2 before the program starts, \`import fastpy\` raises"
  echo "\`fastpy.ConfigError\` (a \`ValueError\`). Every threshold accepts \`1\`: \"as soon as possible\"."
  echo
  echo '```'
  "$py" -m fastpy --help-params
  echo '```'
} > "$here/docs/parameters.md"
{
  echo "# Statistics"
  echo
  echo "Generated from \`runtime/stats.def\` by \`scripts/update-docs.sh\`; do not edit by hand."
  echo "\`fastpy.stats()\` returns these counters as a dict; the names are stable API (new ones are only added)."
  echo "Besides them, \`fastpy.stats()[\"handovers\"]\` maps an opcode name (\`dis.opname\`) to the number of"
  echo "frames the fastpy interpreter handed over to CPython's evaluator at that instruction."
  echo
  echo '```'
  "$py" -m fastpy --help-stats
  echo '```'
} > "$here/docs/stats.md"
