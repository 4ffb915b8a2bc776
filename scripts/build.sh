#!/bin/sh
# Configures and builds fastpy into build/ (or $FASTPY_BUILD_DIR) for $PYTHON (default /usr/bin/python3).
set -eu
here=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
build=${FASTPY_BUILD_DIR:-$here/build}
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPython3_EXECUTABLE="${PYTHON:-/usr/bin/python3}" >/dev/null
cmake --build "$build" -j "$(nproc)"
