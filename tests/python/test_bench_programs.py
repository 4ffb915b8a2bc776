"""The benchmark programs (bench/*.py) print the same output under `python -m fastpy` as under CPython.

bench/run checks the same thing when it measures; this makes every test run check it too, on the workloads
the performance numbers come from (fannkuch's nested loops, nbody's trees of side traces, numpy's buffers,
richards' objects), in every executor mode of the suite. Each program runs at scale 1 once per mode under
fastpy; CPython's outputs are computed once per module. In the modes that run traces (machine code, or the
IR reference executor under FASTPY_TIERS=interp,ir), the numeric programs must also have run them
(FASTPY_LOG=stats: a JSON line on stderr at exit), so that a tier that silently stopped tracing them fails
here as well as in the benchmarks; under FASTPY_TIERS=interp nothing may be compiled.
"""
import json
import os
import re

import pytest

from conftest import LAUNCHER, PYTHON, REPO, clean_env, run

BENCH = os.path.join(REPO, "bench")


def category(name):
    """bench/run's rule: a program is a benchmark when it has a CATEGORY line."""
    m = re.search(r'^CATEGORY = "(\w+)"', open(os.path.join(BENCH, name)).read(), re.M)
    return m and m.group(1)


PROGRAMS = sorted(f for f in os.listdir(BENCH) if f.endswith(".py") and category(f))
TIERS = os.environ.get("FASTPY_TIERS", "")
# What the numeric programs must have run in each mode of scripts/test.sh (the stat that counts it).
RAN = {"": "trace_native_runs", "interp,baseline": "trace_native_runs", "interp,ir": "trace_ir_runs"}


@pytest.fixture(scope="module")
def cpython_outputs():
    return {}


@pytest.mark.parametrize("prog", PROGRAMS)
def test_bench_program_prints_what_cpython_prints(prog, cpython_outputs):
    path = os.path.join(BENCH, prog)
    try:
        __import__("numpy")
    except ImportError:
        if "numpy" in open(path).read():
            pytest.skip("numpy is not installed")
    if prog not in cpython_outputs:
        plain = run([PYTHON, path, "1"], timeout=300)
        assert plain.returncode == 0, plain.stderr
        cpython_outputs[prog] = plain.stdout
    fast = run([LAUNCHER, "-m", "fastpy", path, "1"], env=clean_env(FASTPY_LOG="stats"), timeout=300)
    assert fast.returncode == 0, fast.stderr
    assert fast.stdout == cpython_outputs[prog]
    stats = [line for line in fast.stderr.splitlines() if line.startswith("fastpy stats: ")]
    assert len(stats) == 1, fast.stderr
    st = json.loads(stats[0][len("fastpy stats: "):])
    if TIERS in RAN and category(prog) == "numeric":
        assert st["traces_recorded"] >= 1 and st[RAN[TIERS]] >= 1, st
    if TIERS == "interp":
        # (a program without loops, fib, has no frame for the interpreter: its imports run on CPython's
        # evaluator, FASTPY_IMPORTS)
        src = open(path).read()
        assert st["traces_compiled"] == 0, st
        assert st["frames_interp"] >= 1 or ("for " not in src and "while " not in src), st
