"""Lifting the hook (python/hook.cpp, FASTPY_HOOK_LIFT): frames of loop-free code whose calls never reach
fastpy run with interp->eval_frame cleared, so that CPython inlines and specializes the calls beneath them.
What must hold: results, tracebacks and recursion limits are CPython's; code that calls something fastpy
runs keeps the hook (its loops are still compiled); a lifted function found calling such code again takes the
lift back; a side exit that must resume an inlined frame gets the hook back even while another thread's
lifted frame runs; fastpy.disable() inside a lifted frame takes the hook out for good."""
import os
import sys

import pytest

from conftest import LAUNCHER, assert_same, run, run_both
from conftest import stats_delta as delta

pytestmark = pytest.mark.skipif("interp" not in os.environ.get("FASTPY_TIERS", "interp"),
                                reason="lifting applies to frames the fastpy interpreter would not run")


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def total(n):
    s = 0
    for i in range(n):
        s += i
    return s


def calls_a_loop(n):          # loop-free, but what it calls has a loop: it must keep the hook
    return total(n) + 1


def sometimes(n):             # loop-free; calls the loop only when asked
    return total(n) if n > 0 else -1


def repeat(f, arg, n):
    """Calls f(arg) n times from CPython's evaluator (@nojit below): a loop the recorder would trace (at
    the minimum thresholds) would inline f, and the hook would not see f's frames at all."""
    out = []
    while len(out) < n:     # no comprehension: its code object would not be @nojit
        out.append(f(arg))
    return out


@pytest.fixture
def lift_after(fastpy_mod):
    old = fastpy_mod.config()["hook_lift"]
    fastpy_mod.config(hook_lift=5)
    fastpy_mod.nojit(repeat)
    fastpy_mod.enable()
    yield fastpy_mod
    fastpy_mod.disable()
    fastpy_mod.config(hook_lift=old)


def test_recursive_loop_free_code_is_lifted(lift_after):
    fp = lift_after
    d = delta(fp, lambda: repeat(fib, 15, 3))
    assert [fib(15)] == [610]
    assert d["code_lifted"] >= 1, d
    # Once lifted, the recursion runs beneath a handful of lifted frames: the hook saw far fewer frames
    # than the 3 x 1973 calls made.
    assert d["frames_lifted"] >= 1 and d["frames_seen"] < 3 * 1973 // 4, d
    assert "hook lifted" in fp.explain(fib)


def test_off_when_zero(lift_after):
    fp = lift_after
    def fib0(n):
        return n if n < 2 else fib0(n - 1) + fib0(n - 2)
    assert delta(fp, lambda: fib0(12))["code_lifted"] == 1
    fp.config(hook_lift=0)       # also for code lifted before
    d = delta(fp, lambda: fib0(12))
    assert d["code_lifted"] == 0 and d["frames_lifted"] == 0 and d["frames_seen"] >= 465, d


def test_caller_of_a_loop_keeps_the_hook_and_the_loop_compiles(lift_after):
    fp = lift_after
    d = delta(fp, lambda: repeat(calls_a_loop, 3000, 20))
    assert d["code_lifted"] == 0 and d["frames_lifted"] == 0, d
    assert d["frames_interp"] >= 20, d     # every total() frame reached the fastpy interpreter
    assert "hook lifted" not in fp.explain(calls_a_loop)


def test_a_lifted_function_that_starts_calling_a_loop_takes_the_lift_back(lift_after):
    fp = lift_after
    d = delta(fp, lambda: repeat(sometimes, 0, 10))
    assert d["code_lifted"] == 1, d
    # Lifted frames run sometimes(100) on CPython's evaluator, total() included; every 64th is watched and
    # finds the fastpy interpreter running total(): the lift is taken back.
    d = delta(fp, lambda: repeat(sometimes, 100, 64))
    assert d["code_unlifted"] == 1 and d["frames_interp"] >= 1, d
    d = delta(fp, lambda: repeat(sometimes, 100, 10))
    assert d["frames_lifted"] == 0 and d["frames_interp"] >= 10, d
    assert sometimes(100) == 4950


TRACEBACKS = """
import sys, traceback
{setup}

def depth(n):
    return 0 if n == 0 else 1 + depth(n - 1)

def boom(n):
    return 1 // (n - 3) + boom(n - 1) if n > 0 else 0

def forever(n):
    return forever(n + 1)

print(depth(3), depth(4), depth(900))
try:
    boom(10)
except ZeroDivisionError:
    traceback.print_exc(file=sys.stdout)
try:
    forever(0)
except RecursionError as e:
    tb = e.__traceback__
    n = 0
    while tb:
        n += 1
        tb = tb.tb_next
    print("RecursionError", e, n)
boom(5)
"""


def test_results_and_tracebacks_are_cpythons():
    """A deep recursion and an exception raised far down in lifted frames: same output, same traceback
    (CPython's own frames), the RecursionError at the same depth. Both through the same launcher, so the
    frames beneath are the same."""
    plain = run([LAUNCHER, "-c", TRACEBACKS.format(setup="")])
    fast = run([LAUNCHER, "-c", TRACEBACKS.format(
        setup="import fastpy; fastpy.config(hook_lift=1); fastpy.enable()")])
    assert plain.returncode == 1 and "ZeroDivisionError" in plain.stderr and "RecursionError" in plain.stdout
    assert_same(plain, fast)
    stats = run([LAUNCHER, "-c", TRACEBACKS.format(setup="import fastpy; fastpy.config(hook_lift=1); fastpy.enable()")
                 .replace("boom(5)\n", "print(fastpy.stats()['code_lifted'] >= 3)\n")])
    assert stats.stdout.endswith("True\n"), stats.stdout


def test_a_side_exit_resuming_an_inlined_frame_puts_the_hook_back(tmp_path):
    """Thread A sleeps in a lifted frame (the hook is out for the whole interpreter); meanwhile thread B's
    compiled loop exits inside an inlined call, which must resume that call's frame mid-way through the hook.
    Without the hook back the callee would run again from its start: out would get one append too many."""
    plain, fast = run_both(tmp_path, """
        import sys, threading, time

        flag = []
        out = []

        class Box:
            pass

        def napper(t):            # loop-free, calls nothing fastpy runs: lifted after FASTPY_HOOK_LIFT calls
            flag.append(t)
            time.sleep(t)

        def start_a():            # thread A: napper lifts the hook while B's compiled loop below still runs
            t = threading.Thread(target=napper, args=(0.5,))
            t.start()
            while len(flag) < 6:
                time.sleep(0.001)
            return t

        def g(o):
            out.append(1)
            return o.v + 1        # o.v turns into a float: the guard fails inside the inlined g

        def work(n, o):
            s = 0
            for i in range(n):
                if i == n - 10:
                    t = start_a()
                    o.v = 0.5
                s = g(o)
            t.join()
            return s

        napper(0); napper(0); napper(0); napper(0); napper(0)   # no loop: a trace would inline napper
        b = Box()
        b.v = 1
        print(work(3000, b), len(out))
        if "fastpy" in sys.modules:
            import fastpy
            s = fastpy.stats()
            print(s["frames_lifted"] >= 1, s["trace_frames_materialized"] >= 1, file=sys.stderr)
    """, env={"FASTPY_HOOK_LIFT": "5"})
    assert plain.stdout == "1.5 3000\n", plain.stdout
    assert fast.stdout == plain.stdout, fast.stderr
    compiled = os.environ.get("FASTPY_TIERS", "default") != "interp"   # interp alone: no trace, no exit
    assert fast.stderr == f"True {compiled}\n", fast.stderr


def test_disable_inside_a_lifted_frame_takes_the_hook_out(tmp_path):
    plain, fast = run_both(tmp_path, """
        import sys

        def leaf(x, off):
            if off and "fastpy" in sys.modules:
                import fastpy
                fastpy.disable()
            return x

        leaf(1, False); leaf(2, False); leaf(3, False)   # no loop: a trace would inline leaf
        leaf(0, True)
        if "fastpy" in sys.modules:
            import fastpy, fastpy._fastpy as native
            print(native.state()["hook_installed"], fastpy.stats()["frames_lifted"] >= 1)
        else:
            print(False, True)
    """, env={"FASTPY_HOOK_LIFT": "2"})
    assert_same(plain, fast)
