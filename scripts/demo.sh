#!/bin/sh
# Installs what is missing, builds, and runs the demo: the same programs under plain CPython and fastpy.
set -eu
here=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
"$here/scripts/install-deps.sh"
"$here/scripts/build.sh"
"$here/bin/python" "$here/scripts/demo.py"
