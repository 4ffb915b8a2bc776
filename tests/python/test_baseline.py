"""The baseline tier (asmjit machine code for traces): what the tier itself owns, beyond the trace tests that run
once per trace tier (test_trace_*.py) and the golden differential (test_golden.py::test_golden_baseline).

Each program runs in a subprocess with FASTPY_TIERS=interp,baseline and asserts through fastpy.stats() that its
loop was compiled by this tier and ran as machine code: the eval breaker is polled by compiled code (Ctrl-C from
a timer thread, another thread taking the GIL), FASTPY_LOG=asm and perfmap, machine code released with its code
object, and the code-cache bound evicting cold traces."""
import json
import os
import re
import textwrap

import pytest

from conftest import LAUNCHER, PYTHON, clean_env, run, write

ENV = dict(FASTPY_TIERS="interp,baseline", FASTPY_HOT_LOOP="5")


def run_prog(tmp_path, source, **env):
    path = write(tmp_path, "prog.py", source)
    r = run([LAUNCHER, str(path)], env=clean_env(**{**ENV, **env}), cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr
    return r, json.loads(r.stdout.strip().splitlines()[-1])


# Loops a timer thread's interrupt_main() must reach while machine code runs them: a `while True` (the
# trace's own back-edge poll), and a nest whose inner loop runs 0-2 times per entry (its side trace goes round
# the outer loop and back to the inner header, handing the next iteration to the inner loop's trace in machine
# code, kLoopBack: no C++ in between, so the side trace's own poll is what lets the interrupt in).
SPINS = {
    "while_true": ("""
        i = 0
        while True:
            i = i + 1
    """, "trace_native_runs", 1),   # (one entry: it never leaves the trace)
    "nest_closed_in_machine_code": ("""
        y = 0
        while True:
            i = 0
            while i < y % 3:
                i += 1
            y += 1
    """, "trace_loop_backs", 1000),
}


@pytest.mark.parametrize("spin", sorted(SPINS))
def test_compiled_loops_are_interrupted_by_a_timer_thread(tmp_path, spin):
    body, counter, at_least = SPINS[spin]
    _, res = run_prog(tmp_path, """
        import _thread, json, threading, traceback
        import fastpy

        @fastpy.jit
        def spin():
""" + textwrap.indent(textwrap.dedent(body), " " * 12) + """
        threading.Timer(0.5, _thread.interrupt_main).start()
        try:
            spin()
            tb = "no exception"
        except KeyboardInterrupt:
            tb = traceback.format_exc().splitlines()[-1]
        print(json.dumps(dict(tb=tb, stats=fastpy.stats())))
    """)
    assert res["tb"] == "KeyboardInterrupt"
    st = res["stats"]
    assert st["traces_compiled"] >= 1 and st[counter] >= at_least and st["trace_ir_runs"] == 0, st


def test_another_thread_gets_the_gil_while_a_compiled_loop_spins(tmp_path):
    # The loop only ends when the other thread, which needs the GIL, has flipped the flag: compiled code must
    # let it in (the eval breaker's GIL drop request), or this never finishes.
    _, res = run_prog(tmp_path, """
        import json, threading, time
        import fastpy

        @fastpy.jit
        def wait(flag):
            n = 0
            while flag[0] == 0:
                n = n + 1
            return n

        flag = [0]
        def flip():
            time.sleep(0.3)
            flag[0] = 1
        t = threading.Thread(target=flip)
        t.start()
        n = wait(flag)
        t.join()
        print(json.dumps(dict(n=n, stats=fastpy.stats())))
    """)
    assert res["n"] > 1000
    st = res["stats"]
    assert st["traces_compiled"] >= 1 and st["trace_native_runs"] >= 1, st


LOOP = """
    import json
    import fastpy

    @fastpy.jit
    def total(n):
        s = 0.0
        for i in range(n):
            s = s + i * 0.5
        return s

    print(json.dumps(dict(r=total(1000), stats=fastpy.stats())))
"""


def test_log_asm_prints_the_machine_code_with_its_ir(tmp_path):
    r, res = run_prog(tmp_path, LOOP, FASTPY_LOG="asm")
    assert res["r"] == sum(i * 0.5 for i in range(1000))
    assert re.search(r"fastpy: machine code for the loop at .*prog\.py:\d+ \(total\): \d+ bytes", r.stderr), r.stderr
    assert re.search(r"^%\d+ f64 = fadd ", r.stderr, re.M), r.stderr          # the IR line
    assert re.search(r"^\s*v?addsd xmm\d+, xmm\d+", r.stderr, re.M), r.stderr   # the code it became (AVX or SSE2)
    assert "exit to snapshot" in r.stderr


def test_log_perfmap_writes_the_trace_for_perf(tmp_path):
    src = LOOP.replace("print(json.dumps(dict(", "import os\n    print(json.dumps(dict(pid=os.getpid(), ")
    r, res = run_prog(tmp_path, src, FASTPY_LOG="perfmap")
    path = f"/tmp/perf-{res['pid']}.map"
    try:
        lines = open(path).read().splitlines()
    finally:
        os.unlink(path)
    assert len(lines) == 1, lines
    start, size, name = lines[0].split(" ", 2)
    assert int(start, 16) > 0 and int(size, 16) > 16
    assert name.startswith("fastpy:total:") and "prog.py:" in name, name


def test_machine_code_is_released_with_its_code_object(tmp_path):
    # Thousands of functions, each a new code object with a hot loop, defined, run and dropped: their traces
    # and machine code go with them.
    _, res = run_prog(tmp_path, """
        import gc, json
        import fastpy
        from fastpy import _fastpy
        fastpy.enable()
        SRC = "def f(n):\\n    s = 0\\n    for i in range(n):\\n        s += i * 3\\n    return s\\n"
        live = []
        for k in range(2000):
            ns = {}
            exec(compile(SRC, f"<gen{k}>", "exec"), ns)
            assert ns["f"](50) == 3675
            del ns
            if k % 400 == 399:
                gc.collect()
                live.append(_fastpy.baseline_info())
        st = fastpy.stats()
        print(json.dumps(dict(live=live, stats=st, us=_fastpy.baseline_info()["compile_us"])))
    """)
    assert res["stats"]["traces_compiled"] >= 2000, res["stats"]
    assert all(i["traces_live"] <= 1 for i in res["live"]), res["live"]
    assert res["live"][-1]["code_bytes"] < 4096, res["live"]
    # Every compile's time is kept (bench/compile_latency.py), and they add up to the stats' total.
    us = res["us"]
    assert len(us) == res["stats"]["traces_compiled"] and min(us) > 0, us[:5]
    assert abs(sum(us) * 1000 - res["stats"]["baseline_compile_ns"]) < len(us), res["stats"]


def test_functions_reading_their_own_namespace_are_released(tmp_path):
    # A trace reads its frame's globals and builtins (a global constant, a global function it inlines, a
    # builtin) without owning them: owning them would be a cycle (namespace -> function -> code -> trace ->
    # namespace) that the GC cannot see, and these 2000 namespaces would never be freed.
    _, res = run_prog(tmp_path, """
        import gc, json
        import fastpy
        from fastpy import _fastpy
        fastpy.enable()
        SRC = ("K = 3\\ndef g(x):\\n    return x * K\\n"
               "def f(n):\\n    s = 0\\n    for i in range(n):\\n        s += g(i) + abs(-1)\\n    return s\\n")
        live = []
        for k in range(2000):
            ns = {}
            exec(compile(SRC, f"<gen{k}>", "exec"), ns)
            assert ns["f"](50) == 3725
            del ns
            if k % 400 == 399:
                gc.collect()
                live.append(_fastpy.baseline_info())
        print(json.dumps(dict(live=live, stats=fastpy.stats())))
    """)
    st = res["stats"]
    assert st["traces_compiled"] >= 2000 and st["traces_evicted"] == 0, st
    assert all(i["traces_live"] <= 1 for i in res["live"]), res["live"]
    assert res["live"][-1]["code_bytes"] < 4096, res["live"]


def test_a_trace_whose_namespace_changed_is_recorded_again(tmp_path):
    # The entry checks the frame's namespaces against the versions the recording saw: a global rebound
    # between two runs releases the trace (its constants may be gone) and the loop is recorded anew; a global
    # function that rebinds its own name while the trace runs (so the old function dies) is safe too.
    _, res = run_prog(tmp_path, """
        import json
        import fastpy

        def step(x):
            return x + 1

        def rebind(x):
            global step
            step = lambda x: x + 2       # the old `step` loses its last reference (but the running trace's)
            return x

        @fastpy.jit
        def run(n, k):
            s = 0
            for i in range(n):
                s = step(s)
                if i == k:
                    s = rebind(s)
            return s

        out = [run(500, -1)]
        step = lambda x: x + 3
        out.append(run(500, -1))
        out.append(run(500, 250))
        out.append(run(500, -1))
        print(json.dumps(dict(out=out, stats=fastpy.stats())))
    """)
    assert res["out"] == [500, 1500, 251 * 3 + 249 * 2, 1000], res["out"]
    st = res["stats"]
    assert st["traces_invalidated"] >= 1 and st["traces_recorded"] >= 2, st


def test_a_trace_released_while_it_runs_is_freed_after_it_returns(tmp_path):
    # The compiled loop drops an object whose __del__ changes a global and calls the same function: that
    # inner entry releases the trace (its namespace changed) while the outer run is still inside its machine
    # code, which must stay valid until the outer run has left it.
    _, res = run_prog(tmp_path, """
        import json
        import fastpy
        K = 2
        Z = [0]
        log = []

        class D:
            def __del__(self):
                global Z
                Z = [0]          # a list the trace reads, rebound: only the same namespace version will do
                log.append(work([0] * 10, 10))

        def work(xs, n):
            s = 0
            for i in range(n):
                s += i * K + Z[0]
                xs[i] = 0
            return s

        fastpy.enable()
        out = [work([0] * 50 + [D() for _ in range(5)] + [0] * 50, 105) for _ in range(3)]
        fastpy.disable()
        print(json.dumps(dict(out=out, log=log, stats=fastpy.stats())))
    """, FASTPY_HOT_LOOP="2", FASTPY_HOT_EXIT="2")
    assert res["out"] == [105 * 104] * 3 and res["log"] == [90] * 15, res
    st = res["stats"]
    assert st["traces_invalidated"] >= 3 and st["trace_native_runs"] >= 3, st



def test_a_tree_released_while_its_linked_side_trace_runs_is_freed_after_it_returns(tmp_path):
    # The same in a loop nest: the drop happens in the outer body, inside a side trace the inner trace's exit
    # called in machine code (no Pin of its own); the inner entry (whose trace reads Z too) releases the
    # whole tree while that side trace is on the C stack, and the tree's code must stay valid until the
    # outer run has left it (valgrind: no invalid read or write).
    _, res = run_prog(tmp_path, """
        import json
        import fastpy
        K = 2
        Z = [0]
        log = []

        class D:
            def __del__(self):
                global Z
                Z = [0]
                log.append(work([0] * 4, 3))

        def work(xs, n):
            s = 0
            for i in range(n):
                for j in range(3):
                    s += j + Z[0]
                s += i * K + Z[0]
                xs[i] = 0
            return s

        fastpy.enable()
        out = [work([0] * 50 + [D() for _ in range(5)] + [0] * 50, 105) for _ in range(3)]
        fastpy.disable()
        print(json.dumps(dict(out=out, log=log, stats=fastpy.stats())))
    """, FASTPY_HOT_LOOP="2", FASTPY_HOT_EXIT="2")
    assert res["out"] == [3 * 105 + 105 * 104] * 3 and res["log"] == [3 * 3 + 3 * 2] * 15, res
    st = res["stats"]
    assert st["traces_invalidated"] >= 3 and st["side_links"] >= 100, st

def test_code_cache_bound_evicts_the_least_recently_entered_traces(tmp_path):
    # FASTPY_CODE_CACHE=4 (KiB) holds a few traces; each new one evicts the coldest (their namespaces are
    # kept alive, so nothing else would release them).
    _, res = run_prog(tmp_path, """
        import gc, json
        import fastpy
        from fastpy import _fastpy
        fastpy.enable()
        SRC = "K = 3\\ndef f(n):\\n    s = 0\\n    for i in range(n):\\n        s += i * K\\n    return s\\n"
        keep = {}
        exec(SRC, keep)
        hot = keep["f"]
        live = []
        namespaces = []
        for k in range(600):
            ns = {}
            exec(compile(SRC, f"<gen{k}>", "exec"), ns)
            assert ns["f"](50) == 3675 and hot(50) == 3675
            namespaces.append(ns)
            if k % 100 == 99:
                gc.collect()
                live.append(_fastpy.baseline_info())
        loops = _fastpy.code_loops(hot.__code__)
        print(json.dumps(dict(live=live, loops=loops, stats=fastpy.stats())))
    """, FASTPY_CODE_CACHE="4")
    st = res["stats"]
    assert st["traces_evicted"] >= 500, st
    assert all(i["code_bytes"] <= 4096 + 2048 and i["traces_live"] <= 8 for i in res["live"]), res["live"]
    # the function entered every round is never the coldest: its trace stays compiled
    assert res["loops"][0]["state"] == "compiled" and res["loops"][0]["runs"] >= 500, res["loops"]


SIDE = """
    import json, sys
    import fastpy

    @fastpy.jit
    def mixed(n, xs):
        s = 0
        f = 0.0
        for i in range(n):
            if i % 3 == 0:          # taken one time in three: the trace's guard exits, its side trace goes on
                s += i
                f = f + xs[i % len(xs)]
            else:
                s -= 1
            if i == n - 7:          # once, late: an exit the side traces never saw
                s = s * 2
        return s, f

    r = [mixed(3000, [0.5, 1.5, 2.5]) for _ in range(3)]
    r.append(mixed(40, [1, 2.5, 3]))      # an int element: the side trace's type guard exits
    if "plain" not in sys.argv[0]:          # (plain_result runs this without fastpy)
        print(fastpy.explain(mixed), file=sys.stderr)
    print(json.dumps(dict(r=r, stats=fastpy.stats())))
"""


def plain_result(tmp_path, source):
    path = write(tmp_path, "plain.py", source.replace("import fastpy", "").replace("@fastpy.jit", ""))
    r = run([PYTHON, str(path)], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def same_as_cpython(tmp_path, source, **env):
    """Runs a program that prints json {r, stats} under fastpy and (enable() and stats left out) under plain
    CPython; asserts the same r and returns fastpy's stats."""
    want = plain_result(tmp_path, source.replace("stats=fastpy.stats()", "stats={}").replace("fastpy.enable()", ""))
    _, res = run_prog(tmp_path, source, **env)
    assert res["r"] == want["r"]
    return res["stats"]


def test_side_trace_continues_a_hot_exit_and_stays_correct(tmp_path):
    want = plain_result(tmp_path, SIDE.replace("stats=fastpy.stats()", "stats={}"))
    proc, res = run_prog(tmp_path, SIDE, FASTPY_HOT_EXIT="5")
    assert res["r"] == want["r"]
    assert re.search(r"trace run by machine code \(\d+ bytes, baseline tier\)", proc.stderr), proc.stderr
    assert re.search(r"side traces: from guard %\d+: run \d+ time", proc.stderr), proc.stderr
    st = res["stats"]
    assert st["side_traces"] >= 1 and st["side_trace_runs"] >= 1000, st
    # the side trace finishes the iteration at the header and the loop's trace is entered again right away
    assert st["trace_entries"] < st["trace_native_runs"] / 10, st


def test_log_trace_and_ir_name_every_trace_side_traces_included(tmp_path):
    r, res = run_prog(tmp_path, SIDE, FASTPY_HOT_EXIT="5", FASTPY_LOG="trace,ir")
    st = res["stats"]
    roots = re.findall(r"^fastpy: trace for the loop at .*prog\.py:\d+ \(mixed\): \d+ instructions recorded, "
                       r"\d+ after optimization$", r.stderr, re.M)
    sides = re.findall(r"^fastpy: side trace of the loop at .*prog\.py:\d+ \(mixed\) from %\d+ of (the loop's trace|"
                       r"a side trace): \d+ instructions recorded, \d+ after optimization, ends at (.*)$", r.stderr, re.M)
    assert len(roots) == st["traces_recorded"] >= 1, r.stderr
    assert len(sides) == st["side_traces"] >= 1, r.stderr
    assert ("the loop's trace", "its loop's header") in sides, sides
    # each trace's recorded and optimized IR follows its line
    assert r.stderr.count("--- recorded\n") == r.stderr.count("--- optimized\n") == len(roots) + len(sides)
    assert re.search(r"^%\d+ void = guard_\w+ %\d+ @\d+", r.stderr, re.M), r.stderr


def test_side_traces_bounded_by_max_side(tmp_path):
    _, res = run_prog(tmp_path, SIDE, FASTPY_HOT_EXIT="5", FASTPY_MAX_SIDE="0")
    st = res["stats"]
    assert st["side_traces"] == 0 and st["side_trace_runs"] == 0, st
    assert st["traces_compiled"] >= 1 and st["trace_exits"] >= 2000, st


def test_loop_whose_side_traces_keep_exiting_is_blacklisted(tmp_path):
    # Inside the rare branch, the type of a value alternates (an int, then a float): each side trace exits at
    # its type guard on every other run (a guard no side trace of its own can continue from), and with
    # FASTPY_HOT_EXIT=1 one exit drops it; after FASTPY_MAX_ABORTS drops the loop goes to CPython's evaluator.
    src = """
        import json
        import fastpy
        from fastpy import _fastpy

        @fastpy.jit
        def alt(n, vals):
            s = 0.0
            for i in range(n):
                if i % 3 == 0:
                    s += vals[(i // 3) % 2]
                else:
                    s += 1
            return s

        r = alt(3000, [1, 2.5])
        print(json.dumps(dict(r=r, loops=_fastpy.code_loops(alt.__code__), stats=fastpy.stats())))
    """
    want = plain_result(tmp_path, src.replace("from fastpy import _fastpy", "").replace(
        "loops=_fastpy.code_loops(alt.__code__), stats=fastpy.stats()", "loops=0, stats=0"))
    _, res = run_prog(tmp_path, src, FASTPY_HOT_EXIT="1")
    assert res["r"] == want["r"]
    st = res["stats"]
    assert st["side_traces"] >= 3 and st["aborts"].get("side_exits") == 1, st
    assert res["loops"][0]["state"] == "blacklisted" and res["loops"][0]["abort_reason"] == "side_exits", res["loops"]
    assert st["handover_blacklisted"] >= 1, st


@pytest.mark.parametrize("inner, reason", [
    ("k = 0\n                while k < 200:\n                    x = x * 0.5 + y\n                    k += 1", "inner_loop"),
    ("for k in range(200):\n                    x = x * 0.5 + y", "call_unknown"),   # range() in the outer body
])
def test_outer_loop_of_a_compiled_inner_loop_stays_in_fastpy(tmp_path, inner, reason):
    # The outer loop cannot be traced and is blacklisted, but its frame is not handed to CPython's evaluator:
    # the inner loop's machine code keeps running at every outer iteration.
    src = """
        import json
        import fastpy

        @fastpy.jit
        def grid(n):
            t = 0.0
            for y in range(n):
                x = 0.0
                INNER
                t = t + x
            return t

        print(json.dumps(dict(r=grid(300), stats=fastpy.stats())))
    """
    src = src.replace("INNER", inner)
    want = plain_result(tmp_path, src.replace("stats=fastpy.stats()", "stats=0"))
    _, res = run_prog(tmp_path, src)
    assert res["r"] == want["r"]
    st = res["stats"]
    assert st["aborts"].get(reason, 0) >= 1 and st["loops_blacklisted"] >= 1, st
    assert st["handover_blacklisted"] == 0, st
    assert st["trace_native_runs"] >= 290, st   # one run of the inner trace per outer iteration


@pytest.mark.parametrize("tiers", ["interp,baseline", "interp,ir"])
def test_nan_payload_of_float_add_and_mul_as_cpython_in_a_hot_loop(tmp_path, tiers):
    src = """
        import json, math, struct
        import fastpy
        def f(b): return struct.unpack('<d', struct.pack('<Q', b))[0]
        @fastpy.jit
        def run(n, a, b):
            s = t = u = 0.0
            for i in range(n):
                s = a + b
                t = a * b
                u = b - a
            return [math.copysign(1, s), math.copysign(1, t), math.copysign(1, u)]
        print(json.dumps(dict(r=run(100, f(0x7ff8000000000000), f(0xfff8000000000123)), stats=fastpy.stats())))
    """
    want = plain_result(tmp_path, src.replace("stats=fastpy.stats()", "stats=0"))
    _, res = run_prog(tmp_path, src, FASTPY_TIERS=tiers)
    assert res["r"] == want["r"] == [1.0, 1.0, -1.0]
    assert res["stats"]["traces_recorded"] >= 1, res["stats"]


def test_ctrl_c_reaches_a_loop_that_lives_in_its_side_trace(tmp_path):
    # Recorded while i < 7 (branch A); afterwards every entry of the loop's trace exits at that branch into
    # the side trace (branch B), which completes the iteration and re-enters the trace. When the timer sets
    # the eval breaker, the side trace's poll exits at the loop header: that exit must go back to the
    # interpreter, which raises KeyboardInterrupt, not into the parent trace again (a hang).
    _, res = run_prog(tmp_path, """
        import _thread, json, threading, traceback
        import fastpy

        @fastpy.jit
        def spin():
            i = 0
            x = 0
            while True:
                i += 1
                if i < 7:
                    x = 1
                else:
                    x = 2

        threading.Timer(0.5, _thread.interrupt_main).start()
        try:
            spin()
            tb = "no exception"
        except KeyboardInterrupt:
            tb = traceback.format_exc().splitlines()[-1]
        print(json.dumps(dict(tb=tb, stats=fastpy.stats())))
    """, FASTPY_HOT_EXIT="5")
    assert res["tb"] == "KeyboardInterrupt"
    st = res["stats"]
    assert st["side_traces"] >= 1 and st["side_trace_runs"] >= 1000, st


RANGE_STEPS = """
import json, fastpy

def total(lo, hi, step):
    s = 0
    for i in range(lo, hi, step):
        s += i * 3 + 1
    return s

fastpy.enable()
r = [total(0, 5000, 1) for _ in range(5)]                  # recorded with step 1: specialized on it
r += [total(7, 9000, 3), total(9000, -40, -7), total(-5, 5, 1), total(0, 10**6, 250000)]
r += [total(0, 5000, 2) for _ in range(5)]                 # the step guard keeps failing: recorded again
r += [total(3, 4000, 1), total(0, 30, 31)]
print(json.dumps(dict(r=r, stats=fastpy.stats())))
"""


RANGE_STARTS = """
import json, fastpy

def pick(xs, lo, hi):
    s = 0.0
    for i in range(lo, hi):
        s += xs[i] * (i + 1)
    return s

xs = [k * 0.5 + 0.25 for k in range(100)]
fastpy.enable()
r = [pick(xs, 0, 100) for _ in range(5)]     # recorded with start 0: the index is the value, never negative
r += [pick(xs, 3, 100) for _ in range(5)]    # the start guard keeps failing: recorded again with i >= 3, but
r += [pick(xs, -50, 50) for _ in range(5)]   # start + index may be negative: a negative value counts from
r += [pick(xs, 0, 100), pick(xs, 7, 90), pick(xs, -100, 0), pick(xs, 0, 0)]   # the end, as in CPython
print(json.dumps(dict(r=r, stats=fastpy.stats())))
"""


def test_range_loops_specialized_on_start_zero_index_lists_from_either_end(tmp_path):
    st = same_as_cpython(tmp_path, RANGE_STARTS, FASTPY_HOT_EXIT="5")
    assert st["trace_native_runs"] >= 5 and st["traces_compiled"] >= 2, st
    assert st["traces_recorded"] >= 2 and st["aborts"].get("unstable", 0) >= 1, st   # recorded again for 3


SPARE_RANGE_ITERS = """
import json, fastpy

def pairs(n, reps):
    s = 0
    for _ in range(reps):
        for i in range(n):
            for j in range(i + 1, n):   # a side trace makes this iterator at every i
                s += i * j
    return s

def escaped(n):
    # iterators a trace made, kept and used after their loop: each one stays its own object
    keep = []
    for i in range(n):
        it = iter(range(i, i + 3))
        keep.append(it)
        for j in range(i, n):
            pass
    return [(next(it), it.__length_hint__(), repr(it.__reduce__()[1:])) for it in keep[:20]]

def huge(n):
    s = 0
    for i in range(n):
        for j in range(i % 3 - 2**62, 2**62 - i % 2):   # i % 3 == 0: a length past the C long range
            s += j % 7 + i
            if j > i % 3 - 2**62 + i % 4:
                break
    return s

TRACEMALLOC
fastpy.enable()
r = [pairs(6, 2000), pairs(9, 300), escaped(200), huge(300)]
spare = [iter(range(k, 2 * k + 1)) for k in range(40)]   # CPython's own iterators, freed below
probe = [(list(it), it.__length_hint__()) for it in spare]
del spare
r.append(probe)
r.append(pairs(5, 1000))
print(json.dumps(dict(r=r, stats=fastpy.stats())))
"""


@pytest.mark.parametrize("tracing", [False, True])
def test_range_iterators_made_by_traces_reuse_freed_ones(tmp_path, tracing):
    # (Under tracemalloc the machine code leaves the spares to new_range_iter, which tells tracemalloc.)
    start = "import tracemalloc; tracemalloc.start()" if tracing else ""
    st = same_as_cpython(tmp_path, SPARE_RANGE_ITERS.replace("TRACEMALLOC", start))
    assert st["side_trace_runs"] >= 1000 and st["range_iters_reused"] >= 1000, st


LIST_SLOTS = """
import json, fastpy

def bodies(bs, steps):
    # nbody's shape: b's slots 0..1 only read in the inner loop (loaded once before it), 2 updated in place
    for _ in range(steps):
        for i in range(len(bs)):
            b = bs[i]
            for j in range(i + 1, len(bs)):
                c = bs[j]
                d = b[0] - c[0]
                b[2] -= d * c[1]
                c[2] += d * b[1]
    return bs

def shared(n):
    b = [1.5, 0.5, 0.0]
    c = [0.0, 0.0, b[0]]   # c[2] is b[0]'s float: two references, so c[2] -= ... makes a new float
    out = []
    for k in range(n):
        c[2] -= b[0] + k
        b[2] += c[2]
        out.append(b[0])
    return b, c, out[-3:]

def alias(n):
    b = [1.0, 2.0, 3.0]
    ps = [b, [4.0, 5.0, 6.0], b]
    for k in range(n):
        c = ps[k % 3]
        c[2] = c[2] * 0.5 + b[0]   # c is b: b[2], a slot this loop writes (its loads stay in the loop)
        c[0] += b[2] * 0.25        # and b[0]
    return ps

fastpy.enable()
bs = [[float(k), 0.5 * k, 0.0] for k in range(5)]
r = [bodies(bs, 300), shared(400), alias(500)]
print(json.dumps(dict(r=r, stats=fastpy.stats())))
"""


def test_list_slots_no_store_writes_are_loaded_once_per_loop(tmp_path):
    st = same_as_cpython(tmp_path, LIST_SLOTS)
    assert st["traces_compiled"] >= 3 and st["trace_native_runs"] >= 100, st


MOVES = """
import json, sys, fastpy

def copy(dst, src, n):
    for k in range(n):
        dst[k] = src[k]                      # moved: dst gets src's own objects, as CPython does

def rotate(a, n):
    for k in range(n):
        i = k % 7
        a[i], a[i + 1] = a[i + 1], a[i]      # the first store moves its object; the second comes after a decref

def kept(a, b, n):
    for k in range(n):
        t = a[k % 4]
        a[k % 4] += 1.5                      # in place when the list holds the float alone: t is what was loaded
        b[k % 4] = t

fastpy.enable()
r = []
for make in (lambda k: 2**40 + k, lambda k: k * 0.25 + 1e6):
    src = [make(k) for k in range(300)]
    dst = [0] * 300                          # (a float stored over a float is store_fitem: not a move)
    copy(dst, src, 300)
    r.append([all(d is s for d, s in zip(dst, src)), sys.getrefcount(src[7]), dst[-3:]])
    a = [make(k * 3) for k in range(8)]
    rotate(a, 500)
    r.append([a, [sys.getrefcount(x) for x in a]])
a, b = [k + 0.5 for k in range(4)], [0.0] * 4
kept(a, b, 400)
r.append([a, b, [sys.getrefcount(x) for x in a + b]])
print(json.dumps(dict(r=r, stats=fastpy.stats())))
"""


def test_moved_list_items_stay_the_same_objects(tmp_path):
    # opt forward: an int or float loaded from a list and stored unchanged is the object itself (CPython's
    # identities and reference counts), except where something between might release or change it.
    st = same_as_cpython(tmp_path, MOVES)
    assert st["traces_compiled"] >= 5 and st["trace_native_runs"] >= 5, st


KEPT_IN_A_LOCAL = """
import json, fastpy

def keep(a, b, n, m):
    for k in range(n):
        v = a[k % 4]
        if k >= m:
            a[k % 4] = 0.5 * k      # in place (store_fitem) when the list holds the float alone
        b[k] = v                    # the float loaded before, not the one changed
        v = 0

def keep_int(a, b, n, m):
    for k in range(n):
        v = a[k % 4]
        if k >= m:
            a[k % 4] = k            # releases the old big int when the list held it alone
        b[k] = v
        v = 0

fastpy.enable()
r = []
for fn, mk in ((keep, lambda i: i + 0.25), (keep_int, lambda i: 2**40 + i)):
    a = [mk(i) for i in range(4)]
    b = [0] * 400
    fn(a, b, 400, 200)
    r.append([a, b[190:210]])
print(json.dumps(dict(r=r, stats=fastpy.stats())))
"""


def test_a_side_trace_gets_numbers_the_list_may_release_unboxed(tmp_path):
    # The side trace from `if k >= m` starts with v as its parent's exit value, holding no reference of its
    # own: the list's store there releases (or changes in place) the object v was read from before `b[k] = v`.
    # The parent's snapshots keep v unboxed though the store of v moves the object (opt forward); had they
    # held the object, the side trace would store a freed or changed one.
    st = same_as_cpython(tmp_path, KEPT_IN_A_LOCAL, FASTPY_HOT_EXIT="3")
    assert st["side_traces"] >= 2 and st["side_trace_runs"] >= 300, st


LOOP_BACKS = """
import json, fastpy

SCALE = 3

def grid(n):
    total = 0
    for y in range(n):
        for x in range(n):       # the inner loop's exit: a side trace through this header, back into it
            i = 0
            while i < 40 and (x * x + y * y + i) % 97 != 0:
                i += 1
            total += i
    return total

def helper(v):
    return v * SCALE

def held(n):
    # the side trace reads a global function (held by the trace: its chain goes back through C++)
    total = 0
    for y in range(n):
        for x in range(y % 7):
            total += x
        total = helper(total) % 1000003
    return total

fastpy.enable()
r = [grid(60), held(3000)]
SCALE = 5                        # rebinding a global the side trace read: it exits and is checked again
r.append(held(2000))
print(json.dumps(dict(r=r, stats=fastpy.stats())))
"""


def test_side_traces_close_their_loop_in_machine_code(tmp_path):
    st = same_as_cpython(tmp_path, LOOP_BACKS)
    assert st["side_traces"] >= 1 and st["trace_loop_backs"] >= 1000, st
    assert st["trace_native_runs"] > st["trace_loop_backs"], st   # (counted in both)


def test_range_loops_specialized_on_step_one_give_every_step_its_values(tmp_path):
    st = same_as_cpython(tmp_path, RANGE_STEPS, FASTPY_HOT_EXIT="5")
    assert st["trace_native_runs"] >= 5 and st["traces_compiled"] >= 1, st
    assert st["traces_recorded"] >= 2 and st["aborts"].get("unstable", 0) >= 1, st   # recorded again for step 2


# Found by tests/python/fuzz_nested.py (seed 24121, minimized): the trace of `for x in F` calls the runtime in
# a slow path (o.v's unbox) while a value sits in an argument register; asmjit 1.9's allocator moved it into
# r13 there, a callee-saved register the function used nowhere else and so did not save: run_loop's `loop`
# came back null (a segfault). compile_trace now checks the registers the allocated code uses against the
# ones its prologue saves, and compiles again saving every callee-saved register where one is missing
# (stat baseline_recompiles; tiers/baseline/codegen.cpp).
SLOW_PATH_CALL = """
import json, fastpy

def h(p, q):
    return p * 3 - q
def pick(p):
    return None if p % 3 == 0 else p
class Obj:
    def __init__(self):
        self.v = 0.5
def f(n, L, F, G):
    a, b, c, acc = 3, -2, 7, 0
    o = Obj()
    for i in range(n):
        try:
            acc = 9 // L[(h(6, b)) % len(L)]
        except ZeroDivisionError:
            acc = -2
        b = h(max(b, -3), c) if b % 5 == 0 else (b * -8)
        for x in F:
            x = o.v
            c = min((b ^ acc), acc) if pick(i) is None else L[(acc) % len(L)]
            c -= L[(i) % len(L)]
    return a, b, c, acc
def data(call):
    L = [3, -1, 4, 1, 0, 9, 2, 6][: 5 + call % 4]
    F = [0.5, -1.5, 2.25, 0.0, 1e300, -3.0][: 3 + call % 4]
    G = [[float(r), r * 0.5, -1.0, 2.0] for r in range(4)]
    return L, F, G
fastpy.enable()
r = []
for call in range(6):
    L, F, G = data(call)
    r.append(f(30 + 7 * call, L, F, G))
print(json.dumps(dict(r=r, stats=fastpy.stats())))
"""


def test_a_slow_path_call_keeps_the_callers_registers(tmp_path):
    st = same_as_cpython(tmp_path, SLOW_PATH_CALL, FASTPY_HOT_LOOP="2", FASTPY_HOT_EXIT="2")
    assert st["traces_compiled"] >= 2 and st["side_trace_runs"] >= 1, st
