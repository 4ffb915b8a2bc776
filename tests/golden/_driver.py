"""Golden-test driver: runs one tests/golden/<name>.py case and prints its normalized trace IR.

    bin/python tests/golden/_driver.py <name> [baseline] [--exits]

The case defines run(*ARGS) with one loop (optionally drive(run) to call it in a particular way, and
EXPECT_ABORT = True when the loop must not get a trace). The driver runs it under plain CPython first,
then under fastpy (@fastpy.jit) with FASTPY_TIERS=interp,ir and FASTPY_HOT_LOOP=10, checks both results
have the same repr, checks through fastpy.stats() and code_loops() that a traced loop was really recorded
and run by the IR executor, and prints the recorded and optimized IR (or `abort: <reason>`). Exit status 1
(message on stderr) when a check fails. tests/python/test_golden.py compares the output with <name>.ir;
scripts/update-golden.sh rewrites the .ir files.

`baseline` runs the same case with FASTPY_TIERS=interp,baseline instead (the trace compiled to machine code;
the stats line then names trace_native_runs); `--exits` adds a last line with every loop's runs and exits
per guard, which tests/python/test_golden.py compares between the two tiers (the differential test).
"""
import copy
import importlib.util
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# The same settings whoever calls us (test or update script): drop every other FASTPY_* variable before
# fastpy is imported (it reads them at import).
for _k in [k for k in os.environ if k.startswith("FASTPY_") and k not in ("FASTPY_BUILD_DIR", "FASTPY_MAX_SIDE")]:
    del os.environ[_k]
TIER = "baseline" if "baseline" in sys.argv[2:] else "ir"
RUNS = "trace_native_runs" if TIER == "baseline" else "trace_ir_runs"
os.environ["FASTPY_TIERS"] = "interp," + TIER
os.environ["FASTPY_HOT_LOOP"] = "10"

_ADDR = re.compile(r"0x[0-9a-f]+(?![0-9a-f.p])")   # addresses; not hex floats (0x1.8p+1), which are exact values
_DICT_VERSION = re.compile(r"(kint )-?\d+(.*#\s*dict version\s*)$")
_TYPE_VERSION = re.compile(r"(guard_tpversion %\d+, )\d+")   # type version tags depend on what ran before


def normalize(text):
    out = []
    for line in text.splitlines():
        line = _ADDR.sub("0x?", line)
        line = _DICT_VERSION.sub(r"\1?\2", line)
        line = _TYPE_VERSION.sub(r"\1?", line)
        out.append(line.rstrip())
    while out and not out[-1]:
        out.pop()
    return "\n".join(out)


def load(name, tag):
    spec = importlib.util.spec_from_file_location(f"golden_{name}_{tag}", os.path.join(HERE, name + ".py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def call(mod):
    if hasattr(mod, "drive"):
        return mod.drive(mod.run)
    return mod.run(*copy.deepcopy(mod.ARGS))


def fail(msg):
    print(f"golden driver: {msg}", file=sys.stderr)
    sys.exit(1)


def main(name):
    # Plain CPython first: fastpy is not even imported yet.
    plain = repr(call(load(name, "plain")))

    import fastpy
    from fastpy import _fastpy
    mod = load(name, "fast")
    fastpy.jit(mod.run)
    before = fastpy.stats()
    fast = repr(call(mod))
    after = fastpy.stats()
    delta = {k: after[k] - before[k] for k in after if not isinstance(after[k], dict)}
    if fast != plain:
        fail(f"{name}: results differ\n  cpython: {plain}\n  fastpy:  {fast}")

    code = mod.run.__code__
    loops = _fastpy.code_loops(code) or []
    if not loops:
        fail(f"{name}: fastpy saw no loop in run()")
    print(f"# golden case {name}: FASTPY_TIERS=interp,ir FASTPY_HOT_LOOP=10")
    traced = 0
    for loop in sorted(loops, key=lambda l: l["header"]):
        ir = _fastpy.loop_trace_ir(code, loop["jump"])
        print(f"loop header={loop['header']} jump={loop['jump']}: state={loop['state']} "
              f"aborts={loop['aborts']}")
        if ir is None:
            if loop["abort_reason"]:
                print(f"abort: {loop['abort_reason']}")
            else:
                print("no trace (this back-edge never started a recording)")
            continue
        traced += 1
        if loop["runs"] <= 0:
            fail(f"{name}: loop at {loop['header']} has a trace but the executor never ran it: {loop}")
        recorded, optimized = ir
        print("--- recorded")
        print(normalize(recorded))
        print("--- optimized")
        print(normalize(optimized))
    if traced:
        if delta["traces_recorded"] <= 0 or delta[RUNS] <= 0:
            fail(f"{name}: traced loop but stats say traces_recorded={delta['traces_recorded']}, "
                 f"{RUNS}={delta[RUNS]}")
        if TIER == "baseline" and delta["traces_compiled"] != delta["traces_recorded"]:
            fail(f"{name}: {delta['traces_recorded']} traces recorded but {delta['traces_compiled']} compiled")
    expect_abort = getattr(mod, "EXPECT_ABORT", False)
    if expect_abort and traced:
        fail(f"{name}: expected the recording to abort, but the loop has a trace")
    if not expect_abort and not traced:
        fail(f"{name}: expected a trace, but the loop has none ({[l['abort_reason'] for l in loops]})")
    if expect_abort and delta["traces_aborted"] <= 0:
        fail(f"{name}: expected an abort, but stats say traces_aborted={delta['traces_aborted']}")
    print(f"stats: traces_recorded={delta['traces_recorded']} traces_aborted={delta['traces_aborted']} "
          f"loops_blacklisted={delta['loops_blacklisted']} {RUNS}>0={delta[RUNS] > 0}")
    print(f"result: {plain}")
    if "--exits" in sys.argv[2:]:
        print("exits: " + repr([(l["header"], l["runs"], sorted(l["exits"].items()))
                                for l in sorted(loops, key=lambda l: l["header"])]))


if __name__ == "__main__":
    if len(sys.argv) < 2 or any(a not in ("baseline", "--exits") for a in sys.argv[2:]):
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        sys.exit(2)
    main(sys.argv[1])
