"""Differential fuzzing of the trace tiers: generated loop programs (int arithmetic near 2**62/-2**63, shifts,
//, % and bit ops, float arithmetic with -0.0 and 1e308, branches and swaps that make guards fail and side
traces get recorded) run with plain CPython and in whole-program mode with each trace tier at low
thresholds; every program's result (or exception) must be identical, and stats must show traces compiled,
side traces included, so the programs really ran as traces."""
import json

import pytest

from conftest import LAUNCHER, PYTHON, clean_env, run, write

GEN = r'''
import random, sys
def gen(seed):
    R = random.Random(seed)
    ops = ["+", "-", "*", "//", "%", "&", "|", "^", ">>"]
    vals = ["a", "b", "c", "i", "x", "y"]
    lines = ["def f(n, a, b, c, x, y):", "    acc = 0", "    facc = 0.0", "    for i in range(n):"]
    for k in range(R.randint(2, 6)):
        kind = R.random()
        if kind < 0.5:
            op = R.choice(ops)
            l, r = R.choice(["a", "b", "c", "i", "acc"]), R.choice(["a", "b", "c", "i", str(R.choice([1, 3, -7, 2**62, -2**63, 63]))])
            if op in ("//", "%"):
                lines.append(f"        if {r} != 0: acc = ({l} {op} {r}) + acc")
            elif op == ">>":
                lines.append(f"        acc = acc ^ ({l} >> ({r} & 63))")
            else:
                lines.append(f"        acc = acc {R.choice(['+','-','^'])} ({l} {op} {r})")
        elif kind < 0.8:
            op = R.choice(["+", "-", "*", "/", "//", "%"])
            r = R.choice(["x", "y", "i", "1.5", "-0.0", "1e308"])
            if op in ("/", "//", "%"):
                lines.append(f"        if {r} != 0: facc = facc {R.choice(['+','-'])} (x {op} {r})")
            else:
                lines.append(f"        facc = facc {op} {r} if abs(facc) < 1e300 else 0.0")
        else:
            lines.append(f"        if i % {R.randint(2,5)} == 0: a, b = b, a")
            lines.append(f"        if acc > 2**60: acc = acc - 2**61")
    lines.append("    return acc, facc, a, b")
    return "\n".join(lines)
N = int(sys.argv[2])
for seed in range(int(sys.argv[1]), int(sys.argv[1]) + N):
    src = gen(seed)
    ns = {}
    exec(src, ns)
    args = (60, random.Random(seed).choice([3, 2**62, -2**63 + 5, 7]), 5, -9, 2.5, -0.0)
    try: r = repr(ns["f"](*args))
    except Exception as e: r = type(e).__name__ + str(e)
    print(seed, r)
'''

FAST = r'''
import fastpy, json, runpy, sys
fastpy.enable()
sys.argv = ["gen.py"] + sys.argv[1:]
runpy.run_path("gen.py", run_name="__main__")
fastpy.disable()
print("STATS " + json.dumps(fastpy.stats()))
'''


@pytest.mark.parametrize("tiers", ["interp,baseline", "interp,ir"])
def test_generated_loops_match_cpython(tmp_path, tiers):
    write(tmp_path, "gen.py", GEN)
    write(tmp_path, "fast.py", FAST)
    plain = run([PYTHON, "gen.py", "0", "200"], cwd=tmp_path)
    assert plain.returncode == 0, plain.stderr
    fast = run([LAUNCHER, "fast.py", "0", "200"], cwd=tmp_path, timeout=300,
               env=clean_env(FASTPY_TIERS=tiers, FASTPY_HOT_LOOP="2", FASTPY_HOT_EXIT="2"))
    assert fast.returncode == 0, fast.stderr
    out = fast.stdout.splitlines()
    stats = json.loads(out[-1][len("STATS "):])
    for want, got in zip(plain.stdout.splitlines(), out[:-1]):
        assert got == want
    assert len(out) - 1 == len(plain.stdout.splitlines()) == 200
    assert stats["traces_recorded"] >= 100, stats
    if tiers == "interp,baseline":
        assert stats["traces_compiled"] >= 100 and stats["side_traces"] >= 50, stats
    else:
        assert stats["trace_ir_runs"] >= 100, stats
