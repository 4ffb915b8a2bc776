"""Differential fuzzing of nested loops (fuzz_nested.py generates them: loops three deep, short inner loops,
break/continue/return, ints across 2**63, inf/nan/-0.0, list items swapped and changed in place, types that
change mid-loop, calls, attributes, a global that changes, exceptions caught in loops; with --numpy, arrays).
Each program runs with plain CPython and in whole-program mode with each trace tier at low thresholds: every
call's result, exception, line and the references left on its lists must be identical, and stats must show
traces and side traces compiled and run, so the programs really ran as traces.

Bugs it found are kept as tests of their own (test_baseline.py: test_a_slow_path_call_keeps_the_callers_registers;
test_trace_numpy.py: ..._compare_branches_as_numpy_does, ..._float_overflow_warns_as_numpy_does). For a longer
run: `python tests/python/fuzz_nested.py START COUNT` under both interpreters, compare the outputs."""
import json
import os

import pytest

from conftest import LAUNCHER, PYTHON, clean_env, run, write

HERE = os.path.dirname(os.path.abspath(__file__))

FAST = r'''
import fastpy, json, sys
sys.path.insert(0, HERE)
import fuzz_nested
fastpy.enable()
fuzz_nested.main(sys.argv[1:])
fastpy.disable()
print("STATS " + json.dumps(fastpy.stats()))
'''.replace("HERE", repr(HERE))

LOW = dict(FASTPY_HOT_LOOP="2", FASTPY_HOT_EXIT="2")


def compare(tmp_path, args, tiers, **env):
    plain = run([PYTHON, os.path.join(HERE, "fuzz_nested.py")] + args, cwd=tmp_path, timeout=300)
    assert plain.returncode == 0, plain.stderr
    write(tmp_path, "fast.py", FAST)
    fast = run([LAUNCHER, "fast.py"] + args, cwd=tmp_path, timeout=600,
               env=clean_env(FASTPY_TIERS=tiers, **{**LOW, **env}))
    assert fast.returncode == 0, fast.stderr[-3000:]
    out = fast.stdout.splitlines()
    want = plain.stdout.splitlines()
    assert len(out) - 1 == len(want)
    for w, g in zip(want, out):
        assert g == w
    # numpy's warnings (overflow in a scalar multiply, ...) are part of what the program does
    assert fast.stderr == plain.stderr
    return json.loads(out[-1][len("STATS "):])


@pytest.mark.parametrize("tiers", ["interp,baseline", "interp,ir"])
def test_generated_nested_loops_match_cpython(tmp_path, tiers):
    st = compare(tmp_path, ["0", "700"], tiers)
    assert st["traces_recorded"] >= 400, st
    if tiers == "interp,baseline":
        assert st["traces_compiled"] >= 1200 and st["side_traces"] >= 800 and st["side_trace_runs"] >= 100000, st
    else:
        assert st["trace_ir_runs"] >= 110000, st


def test_generated_nested_loops_with_every_threshold_at_one(tmp_path):
    st = compare(tmp_path, ["700", "500"], "interp,baseline", FASTPY_HOT_LOOP="1", FASTPY_HOT_EXIT="1",
                 FASTPY_MAX_SIDE="64")
    assert st["traces_compiled"] >= 1100 and st["side_traces"] >= 700, st


@pytest.mark.parametrize("tiers", ["interp,baseline", "interp,ir"])
def test_generated_nested_loops_over_numpy_arrays_match_cpython(tmp_path, tiers):
    pytest.importorskip("numpy")
    st = compare(tmp_path, ["--numpy", "0", "400"], tiers)
    assert st["traces_recorded"] >= 150, st
    if tiers == "interp,baseline":
        assert st["traces_compiled"] >= 380 and st["side_traces"] >= 220, st
    else:
        assert st["trace_ir_runs"] >= 50000, st
