"""Golden trace-IR tests: every tests/golden/<name>.py loop program, its recorded and optimized Trace IR.

For each case a subprocess runs tests/golden/_driver.py, which runs the case's run(*ARGS) under plain
CPython and then under fastpy (FASTPY_TIERS=interp,ir, FASTPY_HOT_LOOP=10), fails unless both results have
the same repr and (for a traced loop) fastpy.stats()/code_loops() show the trace was recorded and run by
the IR executor, and prints the normalized IR. That text must equal tests/golden/<name>.ir exactly.
After an intended recorder/optimizer change: scripts/update-golden.sh, then review the diff.

test_golden_baseline is the differential test of the baseline tier against the IR reference executor: the
same case with FASTPY_TIERS=interp,baseline must print the same IR and result, show every trace compiled
and run as machine code, and take exactly the same exits (per guard) and entries as the executor did.
"""
import os
import re

import pytest

from conftest import LAUNCHER, REPO, clean_env, run

GOLDEN = os.path.join(REPO, "tests", "golden")
DRIVER = os.path.join(GOLDEN, "_driver.py")
CASES = sorted(f[:-3] for f in os.listdir(GOLDEN) if f.endswith(".py") and not f.startswith("_"))


_IR_RUNS = {}


def drive(name, *flags):
    # No side traces in the differential: the IR tier has none, and the same traces must run in both tiers
    # (side traces are tested in test_baseline.py).
    return run([LAUNCHER, DRIVER, name, *flags], env=clean_env(FASTPY_TIERS="interp,ir", FASTPY_HOT_LOOP="10",
                                                                FASTPY_MAX_SIDE="0"))


def drive_ir(name):
    """The IR tier's output with the exits line (once per case; both tests use it)."""
    if name not in _IR_RUNS:
        _IR_RUNS[name] = drive(name, "--exits")
    return _IR_RUNS[name]


def split_exits(stdout):
    body, _, exits = stdout.rstrip("\n").rpartition("\n")
    assert exits.startswith("exits: "), stdout
    return body + "\n", exits


def test_enough_cases():
    assert len(CASES) >= 32
    missing = [n for n in CASES if not os.path.exists(os.path.join(GOLDEN, n + ".ir"))]
    stale = [f for f in os.listdir(GOLDEN) if f.endswith(".ir") and f[:-3] not in CASES]
    assert not missing and not stale, (missing, stale)


@pytest.mark.parametrize("name", CASES)
def test_golden(name):
    with open(os.path.join(GOLDEN, name + ".ir")) as f:
        expected = f.read()
    proc = drive_ir(name)
    assert proc.returncode == 0, proc.stderr
    stdout, _ = split_exits(proc.stdout)
    # Independent of the driver's own checks: where the golden file shows a trace, the output must say the
    # loop was compiled and the executor ran it; where it shows an abort, the stats must count one.
    if "--- optimized" in expected:
        assert "state=compiled" in stdout
        assert re.search(r"traces_recorded=[1-9].*trace_ir_runs>0=True", stdout), stdout
        optimized = stdout.split("--- optimized", 1)[1]
        assert re.search(r"= loop\b", optimized) and " phi " in optimized, "optimized trace has no loop/phis"
    else:
        assert re.search(r"^abort: \w+", stdout, re.M) and re.search(r"traces_aborted=[1-9]", stdout)
    assert stdout == expected, f"golden IR of {name} changed (scripts/update-golden.sh regenerates it)"


@pytest.mark.parametrize("name", CASES)
def test_golden_baseline(name):
    ir = drive_ir(name)
    assert ir.returncode == 0, ir.stderr
    ir_out, ir_exits = split_exits(ir.stdout)
    proc = drive(name, "baseline", "--exits")
    assert proc.returncode == 0, proc.stderr
    out, exits = split_exits(proc.stdout)
    if "--- optimized" in ir_out:
        assert re.search(r"traces_recorded=[1-9].*trace_native_runs>0=True", out), out
    assert out.replace("trace_native_runs>0", "trace_ir_runs>0") == ir_out
    assert exits == ir_exits, "the baseline tier's entries/exits per guard differ from the IR executor's"
