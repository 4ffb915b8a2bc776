"""Trace guards: every kind of guard in a recorded loop trace fails AFTER the loop is hot and traced, and the
program goes on exactly as on CPython.

Each program runs in a subprocess (FASTPY_TIERS=interp,ir and again with interp,baseline -- every test of
this file and of the test_trace_* files that import `trace_tier` runs once per trace tier --,
FASTPY_HOT_LOOP=5, FASTPY_HOT_EXIT=1000) that loads
the same source twice (two namespaces, two sets of code objects) and runs its main() once with fastpy off
(plain CPython) and once under fastpy.enabled(). main() calls the traced functions several times, so a loop
is hot, recorded and running in that tier before the failing condition shows up. Compared: main()'s
result or the full traceback text (line numbers and source lines), sys.getrefcount of the objects the loops
touch (refcheck()), and allocated-block growth over 2 x 100 further runs. Checked through
fastpy._fastpy.code_loops and fastpy.stats: the loop was traced (traced, runs > 0, traces_recorded >= 1) and
the guard really exited (the loop's exits dict non-empty, trace_exits > 0) -- or, where the recorder cannot
trace that construct, the recording aborted with the expected reason.
"""
import json
import textwrap

import pytest

from conftest import PYTHON, clean_env, run

# FASTPY_HOT_EXIT is high so that a trace whose type guard keeps failing stays attached and every exit is
# seen here; test_unstable_trace_is_dropped_and_recorded_again covers what a low value does.
ENV = dict(FASTPY_HOT_LOOP="5", FASTPY_HOT_EXIT="1000")
# The tiers that run traces: the IR reference executor and the baseline tier's machine code. run_prog uses the
# one the autouse fixture below selected; check() asserts that tier ran the trace.
TRACE_TIERS = {"ir": ("interp,ir", "trace_ir_runs"), "baseline": ("interp,baseline", "trace_native_runs")}
_tier = {"now": "ir"}


@pytest.fixture(autouse=True, params=sorted(TRACE_TIERS))
def trace_tier(request):
    """Runs each test once per trace tier (import it into a test module to get the same there)."""
    _tier["now"] = request.param
    yield request.param
    _tier["now"] = "ir"

HARNESS = r'''
import gc, json, sys, traceback
import fastpy

SRC = open("prog_src.py").read()
NAMES = json.loads(sys.argv[1])
LEAK = sys.argv[2] == "1"
MODE = sys.argv[3]      # "enabled": main() under fastpy.enabled(); "jit": only the NAMES are fastpy.jit'ed


def load():
    ns = {"__name__": "prog"}
    exec(compile(SRC, "prog_src.py", "exec"), ns)
    return ns


def call(ns):
    try:
        return "ok", repr(ns["main"]())
    except BaseException as e:
        return "raised", "".join(traceback.format_exception(e))


def refs(ns):
    check = ns.get("refcheck")
    return [sys.getrefcount(o) for o in check()] if check else []


def growth(ns):
    """Allocated blocks left behind by runs 1..100 and by runs 101..200 (after a warm-up)."""
    for _ in range(3):
        call(ns)
    out = []
    gc.collect()
    before = sys.getallocatedblocks()
    for _ in range(2):
        for _ in range(100):
            call(ns)
        gc.collect()
        now = sys.getallocatedblocks()
        out.append(now - before)
        before = now
    return out


plain_ns, fast_ns = load(), load()
if MODE == "jit":
    for name in NAMES:
        fast_ns[name] = fastpy.jit(fast_ns[name])
    fastpy.enabled = lambda: __import__("contextlib").nullcontext()
plain = call(plain_ns)
plain_refs = refs(plain_ns)
s0 = fastpy.stats()
with fastpy.enabled():
    fast = call(fast_ns)
s1 = fastpy.stats()
fast_refs = refs(fast_ns)
stats = {k: s1[k] - s0[k] for k in s1 if not isinstance(s1[k], dict)}
loops = {}
for name in NAMES:
    ls = fastpy._fastpy.code_loops(fast_ns[name].__code__) or []
    loops[name] = [{k: (v if k != "exits" else {str(a): b for a, b in v.items()}) for k, v in l.items()}
                   for l in ls]
leak = None
if LEAK:
    plain_growth = growth(plain_ns)
    with fastpy.enabled():
        fast_growth = growth(fast_ns)
    leak = [f - p for f, p in zip(fast_growth, plain_growth)]
    if max(leak) >= 60:     # allocator noise is not proportional to the runs: a real leak shows twice
        with fastpy.enabled():
            again = growth(fast_ns)
        leak = [min(a, b) for a, b in zip(leak, [g - p for g, p in zip(again, plain_growth)])]
print(json.dumps(dict(plain=plain, fast=fast, plain_refs=plain_refs, fast_refs=fast_refs, stats=stats,
                      loops=loops, leak=leak)))
'''


def run_prog(tmp_path, source, names, leak=True, mode="enabled", **env):
    (tmp_path / "prog_src.py").write_text(textwrap.dedent(source))
    (tmp_path / "harness.py").write_text(HARNESS)
    r = run([PYTHON, "harness.py", json.dumps(names), "1" if leak else "0", mode], cwd=tmp_path,
            env=clean_env(**{**ENV, "FASTPY_TIERS": TRACE_TIERS[_tier["now"]][0], **env}), timeout=300)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def loops_of(res, name):
    ls = res["loops"][name]
    assert ls, (name, "no loops scanned")
    return ls


def check(res, traced=(), exited=(), aborted=None, leak=True, min_kinds=2):
    """Same result/traceback and refcounts as CPython; each function in `traced` had a loop traced and run
    in the executor, each in `exited` also left a trace through a failed guard; `aborted` maps a function
    to the expected abort reason (substring) for constructs the recorder cannot trace. A mid-loop guard
    failure shows as a second exit snapshot besides the loop's normal end (min_kinds)."""
    assert res["fast"] == res["plain"], "\n".join(res["plain"]) + "\n----- fastpy:\n" + "\n".join(res["fast"])
    assert res["fast_refs"] == res["plain_refs"]
    st = res["stats"]
    if traced:
        assert st["traces_recorded"] >= 1, st
        assert st[TRACE_TIERS[_tier["now"]][1]] >= 1, st
        if _tier["now"] == "baseline":
            assert st["traces_compiled"] >= 1 and st["trace_ir_runs"] == 0, st
    if exited:
        assert st["trace_exits"] >= 1, st
    for name in traced:
        ls = loops_of(res, name)
        assert any(l["traced"] and l["state"] == "compiled" and l["runs"] > 0 for l in ls), (name, ls)
    for name in exited:
        ls = loops_of(res, name)
        assert any(sum(l["exits"].values()) > 0 and len(l["exits"]) >= min_kinds for l in ls), (name, ls)
    for name, reason in (aborted or {}).items():
        ls = loops_of(res, name)
        assert any(l["aborts"] >= 1 and reason in l["abort_reason"] for l in ls), (name, ls)
    if leak:
        assert res["leak"] is not None and max(res["leak"]) < 60, res["leak"]


# ---------------------------------------------------------------------------------------------- type guards

@pytest.mark.parametrize("mode", ["enabled", "jit"])
def test_type_guard_at_entry_int_then_float_argument(tmp_path, mode):
    res = run_prog(tmp_path, """
        def f(n, x):
            s = 0
            for i in range(n):
                s = s + i * x
            return s

        def main():
            out = [f(100, 2), f(100, 3)]
            out.append(f(100, 2.5))      # x (and then s) is a float: the type guards at entry fail
            out.append(f(100, 7))        # and back to int
            out.append(f(100, -1.5))
            out.append(f(100, True))     # a bool is no int for an exact type guard
            return out
    """, ["f"], mode=mode)
    check(res, traced=["f"], exited=["f"])


def test_type_change_mid_loop_accumulator_becomes_float(tmp_path):
    res = run_prog(tmp_path, """
        DATA = [1000 + i for i in range(60)] + [0.5] + [2000 + i for i in range(40)]
        INTS = [3000 + i for i in range(100)]

        def total(xs):
            s = 0
            n = 0
            for i in range(len(xs)):
                s += xs[i]
                n = n + 1
            return s, n, dict(locals()) == {"xs": xs, "s": s, "n": n, "i": len(xs) - 1}

        def main():
            return [total(INTS), total(DATA), total(INTS), total(DATA[:70])]

        def refcheck():
            return [DATA, INTS, DATA[0], DATA[60], DATA[-1], INTS[50]]
    """, ["total"])
    check(res, traced=["total"], exited=["total"])


# ------------------------------------------------------------------------------------------- int overflow

def test_int_overflow_add_sub_mul_neg_abs_floordiv_mod(tmp_path):
    res = run_prog(tmp_path, """
        def add(n):
            s = 2**63 - 50
            for i in range(n):
                s = s + 1
            return s

        def sub(n):
            s = -2**63 + 50
            for i in range(n):
                s = s - 1
            return s

        def mul(n):
            p = 1
            for i in range(n):
                p = p * 3
            return p

        def neg(n):
            out = []
            last = 0
            for i in range(n):
                v = -2**63 + 60 - i       # exactly -2**63 at i == 60
                last = -v
                out.append(last % 1000)
            return last, out

        def absolute(n):
            t = 0
            last = 0
            for i in range(n):
                last = abs(-2**63 + 60 - i)
                t = t + last % 7
            return last, t

        def floordiv(n, d):
            last = 0
            for i in range(n):
                last = (-2**63 + 60 - i) // d
            return last

        def modulo(n, d):
            t = 0
            for i in range(n):
                t = t + (-2**63 + 60 - i) % d
            return t

        def mul_neg(n):
            p = -1
            for i in range(n):
                p = p * 2                 # -2**63 fits, -2**64 does not
            return p

        def main():
            out = [add(100), sub(100), mul(100), neg(100), absolute(100), mul_neg(100)]
            out += [floordiv(100, -1), floordiv(100, 1), modulo(100, -1), modulo(100, 7)]
            # small again after the big-int calls: the trace is still good
            out += [add(3), mul(10)]
            out.append(type(add(100)).__name__)
            return out
    """, ["add", "sub", "mul", "neg", "absolute", "floordiv", "modulo", "mul_neg"])
    check(res, traced=["add", "sub", "mul", "neg", "absolute", "floordiv", "modulo", "mul_neg"],
          exited=["add", "sub", "mul", "neg", "absolute", "floordiv", "mul_neg"])
    assert str(2**63 + 50) in res["fast"][1]


# ---------------------------------------------------------------------------------- division by zero

DIVZERO = """
    import traceback

    def div(xs, k):
        s = 0.0
        for i in range(len(xs)):
            s = s + k / xs[i]
        return s

    def fdiv(xs, k):
        s = 0.0
        for i in range(len(xs)):
            s = s + k // xs[i]
        return s

    def fmod(xs, k):
        s = 0.0
        for i in range(len(xs)):
            s = s + k % xs[i]
        return s

    FLOATS = [1.5 + i for i in range(40)] + [0.0] + [2.5] * 10
    INTS = [1000 + i for i in range(40)] + [0] + [7] * 10

    def main():
        out = []
        for fn in (div, fdiv, fmod):
            for xs, k in ((FLOATS, 3.5), (FLOATS, 3), (INTS, 3.5), (INTS, 3)):
                out.append(fn(xs[:40], k))
                try:
                    out.append(fn(xs, k))
                except ZeroDivisionError:
                    out.append(traceback.format_exc())
        div(FLOATS, 1.0)      # uncaught: the harness compares the whole traceback
    
    def refcheck():
        return [FLOATS, INTS, FLOATS[40], INTS[0], FLOATS[0]]
"""


@pytest.mark.parametrize("mode", ["enabled", "jit"])
def test_division_by_zero_mid_loop_same_traceback(tmp_path, mode):
    res = run_prog(tmp_path, DIVZERO, ["div", "fdiv", "fmod"], mode=mode)
    check(res, traced=["div", "fdiv", "fmod"], exited=["div", "fdiv", "fmod"])
    assert res["fast"][0] == "raised" and "ZeroDivisionError: float division by zero" in res["fast"][1]
    assert 'line 7, in div\n    s = s + k / xs[i]' in res["fast"][1]


# ---------------------------------------------------------------------------------------------- math

def test_math_domain_and_overflow_errors_mid_loop(tmp_path):
    res = run_prog(tmp_path, """
        import math, traceback

        def roots(xs):
            s = 0.0
            for i in range(len(xs)):
                s = s + math.sqrt(xs[i])
            return s

        def logs(xs):
            s = 0.0
            for i in range(len(xs)):
                s = s + math.log(xs[i])
            return s

        def exps(xs):
            s = 0.0
            for i in range(len(xs)):
                s = s + math.exp(xs[i])
            return s

        def ints(xs):
            s = 0
            for i in range(len(xs)):
                s = s + int(xs[i])
            return s

        BASE = [0.5 + i for i in range(30)]

        def main():
            out = []
            for fn, bad in ((roots, -1.0), (roots, -1), (logs, 0.0), (logs, 0), (logs, -2.5),
                            (exps, 1000.0), (exps, 1000), (ints, float("inf")), (ints, float("-inf")),
                            (ints, float("nan"))):
                out.append(fn(BASE))
                try:
                    out.append(fn(BASE + [bad] + BASE))
                except (ValueError, OverflowError):
                    out.append(traceback.format_exc())
            out.append(exps([-1000.0] * 20))       # underflow to 0.0 is no error
            roots(BASE + [-4.0])                     # uncaught
    """, ["roots", "logs", "exps", "ints"])
    check(res, traced=["roots", "logs", "exps", "ints"], exited=["roots", "logs", "exps", "ints"])
    assert res["fast"][0] == "raised" and "ValueError: math domain error" in res["fast"][1]


# ------------------------------------------------------------------------------------- lists and indexing

def test_list_index_out_of_range_mid_loop(tmp_path):
    res = run_prog(tmp_path, """
        import traceback
        XS = [0.25 + i for i in range(20)]

        def head(xs, n):
            s = 0.0
            for i in range(n):
                s = s + xs[i]
            return s

        def back(xs, n):
            s = 0.0
            for i in range(n):
                s = s + xs[10 - i]      # negative indexes from i == 11, out of range at i == 31
            return s

        def main():
            out = [head(XS, 20), back(XS, 30)]
            for fn, n in ((head, 21), (head, 40), (back, 31), (back, 50)):
                try:
                    out.append(fn(XS, n))
                except IndexError:
                    out.append(traceback.format_exc())
            XS.append(100.5)
            out.append(head(XS, 21))
            del XS[5:]
            head(XS, 20)                 # uncaught
        
        def refcheck():
            return [XS] + XS
    """, ["head", "back"])
    check(res, traced=["head", "back"], exited=["head", "back"])
    assert "IndexError: list index out of range" in res["fast"][1]


def test_range_of_a_lists_length_checked_once_per_loop(tmp_path):
    # `for i in range(len(xs))`: FOR_ITER checks i < len(range), so each subscript's check is
    # len(range) <= len(xs), hoisted out of the loop. It must still catch a range longer than the list
    # (recorded with a short one: the check fails at the trace's entry, the interpreter raises at the right
    # i), a list shorter than the range it is stored into, and a list that shrinks while the loop runs.
    res = run_prog(tmp_path, """
        import traceback
        XS = [0.5 * k for k in range(30)]

        def total(xs, n):
            s = 0.0
            for i in range(n):
                s += xs[i]
            return s

        def copy(xs, ys, n):
            for i in range(n):
                ys[i] = xs[i] * 2.0
            return ys

        def shrink(xs):
            s = 0.0
            for i in range(len(xs)):
                s += xs[i]
                if i == 20:
                    del xs[-3:]
            return s

        def main():
            out = [total(XS, 30), total(XS, 12), copy(XS, [0.0] * 30, 30)[-1]]
            for args in ((XS, 31), (XS, 45)):
                try:
                    out.append(total(*args))
                except IndexError:
                    out.append(traceback.format_exc())
            try:
                copy(XS, [0.0] * 25, 30)
            except IndexError:
                out.append(traceback.format_exc())
            try:
                out.append(shrink(list(XS)))
            except IndexError:
                out.append(traceback.format_exc())
            out.append(total(XS, 30))
            return out

        def refcheck():
            return [XS] + XS
    """, ["total", "copy", "shrink"])
    check(res, traced=["total", "copy"], exited=["total", "copy"])
    out = res["fast"][1]
    assert res["fast"][0] == "ok" and out.count("IndexError: list index out of range") == 3, res["fast"]
    assert out.count("IndexError: list assignment index out of range") == 1, res["fast"]


def test_range_offsets_checked_for_the_whole_range(tmp_path):
    # `xs[i - 1]`, `xs[i + 1]` in `for i in range(lo, hi)`: checked before the loop for the whole range
    # (lo - 1 >= 0 and hi + 1 <= len(xs)). A range past the end raises at the right i; lo = 0 makes xs[i - 1]
    # xs[-1]; a list that shrinks mid-loop raises where CPython does; a negative start indexes from the end.
    res = run_prog(tmp_path, """
        import traceback
        XS = [0.5 * k for k in range(30)]

        def pairs(xs, lo, hi):
            s = 0.0
            for i in range(lo, hi):
                s += xs[i - 1] * xs[i + 1]
            return s

        def shrink(xs):
            s = 0.0
            for i in range(1, len(xs) - 1):
                s += xs[i - 1] - xs[i + 1]
                if i == 20:
                    del xs[-4:]
            return s

        def main():
            out = [pairs(XS, 1, 29), pairs(XS, 3, 20), pairs(XS, 0, 29), pairs(XS, -3, 10)]
            for args in ((XS, 1, 30), (XS, 1, 45)):
                try:
                    out.append(pairs(*args))
                except IndexError:
                    out.append(traceback.format_exc())
            try:
                out.append(shrink(list(XS)))
            except IndexError:
                out.append(traceback.format_exc())
            out.append(pairs(XS, 1, 29))
            return out

        def refcheck():
            return [XS] + XS
    """, ["pairs", "shrink"])
    check(res, traced=["pairs"], exited=["pairs"])
    out = res["fast"][1]
    assert res["fast"][0] == "ok" and out.count("IndexError: list index out of range") == 3, res["fast"]


SWAP_PROGRAM = """
        BASE = [2**40 + k for k in range(9)]

        def rev(a, n):
            for _ in range(n):
                i, j = 0, len(a) - 1
                while i < j:
                    a[i], a[j] = a[j], a[i]
                    i += 1
                    j -= 1
            return a

        def main():
            out = [rev(list(BASE), 7)]
            for odd in ODD:
                a = list(BASE)
                a[1] = odd
                r = rev(a, 9)
                out.append([type(x).__name__ for x in r])
                out.append(r)
            ids = list(BASE)
            before = sorted(id(x) for x in ids)
            rev(ids, 3)
            out.append(before == sorted(id(x) for x in ids))
            return out

        def refcheck():
            return BASE
"""


@pytest.mark.parametrize("odd", ["2.5", "'s'", "2**70", "7"])
def test_swapped_items_are_the_objects_at_exits(tmp_path, odd):
    # `a[i], a[j] = a[j], a[i]`: the items are moved as objects, and the swap's exits name them (the numbers'
    # objects, `:i64`) where the trace kept only their numbers before: no unbox. An item of another type makes
    # the trace exit where a[i]'s type is checked; the frame gets the very objects (identities, refcounts as
    # CPython's), and side traces are tried from there (HOT_EXIT 2). An int beyond 64 bits is only moved:
    # the trace runs on.
    res = run_prog(tmp_path, SWAP_PROGRAM + "        ODD = [" + odd + "]\n", ["rev"], FASTPY_HOT_EXIT="2")
    check(res, traced=["rev"], exited=["rev"] if odd in ("2.5", "'s'") else [])


def test_constant_indexes_of_rows_of_different_lengths(tmp_path):
    # c[6] then c[3] (checked once: 6 < len(c) covers 3), then c[9] (a check of its own): a row of 8 raises
    # IndexError at c[9], a row of 5 at c[6], as in CPython.
    res = run_prog(tmp_path, """
        import traceback

        def rows_sum(rows):
            s = 0.0
            for c in rows:
                s = s + c[6] * c[3] + c[9]
            return s

        def main():
            long = [[0.5 * k + j for j in range(12)] for k in range(60)]
            out = [rows_sum(long)]
            for bad in ([1.0] * 8, [1.0] * 5):
                try:
                    out.append(rows_sum(long[:30] + [bad] + long))
                except IndexError:
                    out.append(traceback.format_exc())
            return out
    """, ["rows_sum"])
    check(res, traced=["rows_sum"], exited=["rows_sum"])
    assert res["fast"][1].count("IndexError: list index out of range") == 2, res["fast"]


def test_list_replaced_by_other_types_between_calls(tmp_path):
    res = run_prog(tmp_path, """
        import traceback
        L = [1.5 * i for i in range(50)]
        T = tuple(L)
        D = {i: 2.5 * i for i in range(50)}

        class Seq:
            def __getitem__(self, i):
                return i * 0.5
            def __len__(self):
                return 50

        def walk(xs):
            s = 0.0
            for i in range(len(xs)):
                s = s + xs[i]
            return s

        def main():
            out = [walk(L), walk(L)]
            for xs in (T, D, Seq(), L, "abc" * 10, [1000 + i for i in range(50)], L):
                try:
                    out.append(walk(xs))
                except TypeError:
                    out.append(traceback.format_exc())
            return out

        def refcheck():
            return [L, T, D, L[3], T[4], D[5]]
    """, ["walk"])
    check(res, traced=["walk"], exited=["walk"])


def test_list_element_type_changes(tmp_path):
    res = run_prog(tmp_path, """
        import traceback
        XS = [0.5 + i for i in range(60)]

        def scale(xs, k):
            s = 0.0
            for i in range(len(xs)):
                xs[i] = xs[i] * k
                s = s + xs[i]
            return s

        def main():
            out = [scale(XS, 2.0), scale(XS, 0.5)]
            XS[40] = "str"
            try:
                out.append(scale(XS, 1.0))
            except TypeError:
                out.append(traceback.format_exc())
            XS[40] = 7                   # int element in a float list
            out.append(scale(XS, 1.5))
            XS[41] = object()
            try:
                out.append(scale(XS, 3))
            except TypeError:
                out.append(traceback.format_exc())
            out.append([x for x in XS if type(x) is not object])
            return out

        def refcheck():
            return [XS] + XS
    """, ["scale"])
    check(res, traced=["scale"], exited=["scale"])


# --------------------------------------------------------------------------------------- control flow

def test_branch_direction_flips_after_trace_is_hot(tmp_path):
    res = run_prog(tmp_path, """
        def flip(n, k):
            s = 0
            t = 0.0
            for i in range(n):
                if i < k:
                    s = s + i
                else:
                    s = s - 2 * i
                    t = t + 0.5
                if not (i % 3 == 0 or i > 90) and s > -50:
                    t = t - 0.25
            return s, t, dict(locals())

        def main():
            return [flip(100, 50), flip(100, 1000), flip(100, 3), flip(100, 1000)]
    """, ["flip"])
    check(res, traced=["flip"], exited=["flip"])


def test_is_none_and_identity_branches(tmp_path):
    # `x is None` / `is not None` jumps (POP_JUMP_*_IF_NONE) and `a is b` are identity compares the trace
    # branches on: a linked-list walk ends at its None; a loop meets None, a marker object and ints.
    res = run_prog(tmp_path, """
        class Node:
            def __init__(self, v, nxt):
                self.v, self.next = v, nxt

        def walk(head):
            s = 0
            p = head
            while p is not None:
                s = s + p.v
                p = p.next
            return s

        def pick(xs, marker):
            s = n = m = 0
            for x in xs:
                if x is None:
                    n = n + 1
                elif x is marker:
                    m = m + 1
                elif x is not marker:
                    s = s + x
            return s, n, m

        def main():
            head = None
            for k in range(200):
                head = Node(k, head)
            mk = object()
            objs = [None if k % 3 else mk for k in range(120)]
            return [walk(head), walk(None), walk(Node(5, None)), pick(list(range(100)), mk), pick(objs, mk),
                    pick([mk] * 40 + [None] * 40, mk), pick(objs, None)]
    """, ["walk", "pick"])
    check(res, traced=["walk", "pick"], exited=["pick"])


def test_loop_exits_range_break_while(tmp_path):
    res = run_prog(tmp_path, """
        def by_range(n):
            s = 0
            for i in range(n):
                s = s + i
            return dict(locals())

        def by_break(n, stop):
            s = 0
            for i in range(n):
                if i == stop:
                    break
                s = s + i
            else:
                s = -1
            return dict(locals())

        def by_while(n):
            i = 0
            s = 0.0
            while i < n:
                s = s + i * 0.5
                i = i + 1
            return dict(locals())

        def by_continue(n):
            s = 0
            i = 0
            while True:
                i += 1
                if i % 4 == 0:
                    continue
                if i > n:
                    break
                s += i
            return dict(locals())

        def main():
            return [by_range(50), by_range(0), by_range(7), by_break(100, 60), by_break(100, 200),
                    by_while(80), by_while(-1), by_continue(90), by_continue(2)]
    """, ["by_range", "by_break", "by_while", "by_continue"])
    # by_continue has two back-edges: the `continue` one is recorded from the loop header, and the recording
    # leaves the loop (i > n breaks out) -- the recorder aborts it ("loop_exit") and blacklists that edge;
    # the other back-edge is traced and exits normally.
    check(res, traced=["by_range", "by_break", "by_while", "by_continue"],
          exited=["by_range", "by_break", "by_while", "by_continue"], aborted={"by_continue": "loop_exit"},
          min_kinds=1)


# ------------------------------------------------------------------------------------ globals, builtins

def test_namespace_changes_that_leave_the_traces_reads_alone_keep_the_traces(tmp_path):
    """Module-level code between calls (here main(), rebinding globals) changes the namespace's version. An
    entry then revalidates what the trace read: names bound to the same object, or to an equal number, or
    still absent, keep the trace (traces_revalidated), and the trace's own version guards expect the new
    version -- no re-recording, no exits. A name the trace reads bound to something else releases it, and so
    does any change while the namespace has a key other than a str."""
    res = run_prog(tmp_path, """
        import math

        K = 3
        F = 1.5

        def work(n):
            s = 0.0
            for i in range(n):
                s += math.sqrt(i) * K + F + abs(-i)
            return s

        def main():
            global result, K, F, counter
            out = []
            for r in range(40):
                counter = r              # an unrelated global: a new version every time
                result = work(200)
                out.append(result)
            K = 3                        # the same value again
            F = 0.5 * 3.0                # an equal float, another object
            out.append(work(200))
            globals()[1] = 0             # a key that is no str: a lookup could run code, not revalidated
            out.append(work(200))
            del globals()[1]
            K = 4                        # what the trace read, changed: recorded again
            out.append(work(200))
            return out
    """, ["work"])
    check(res, traced=["work"])
    st = res["stats"]
    assert st["traces_revalidated"] >= 38 and st["traces_recorded"] <= 4, st
    assert st["traces_invalidated"] >= 2 and st["traces_discarded"] == 0, st


def test_side_traces_borrow_namespaces_for_their_own_reads_only(tmp_path):
    """A side trace checks the namespaces at its entry only for the names it reads itself (not its
    parent's): `rare` reads K in its side trace only, `common` reads K in its loop's trace only, and K is
    rebound between calls (to an equal int, other ints). Results are CPython's; side traces run."""
    res = run_prog(tmp_path, """
        K = 3

        def rare(n):
            s = 0
            for i in range(n):
                if i % 8 == 7:
                    s += K * i      # the side trace's read
                else:
                    s += i
            return s

        def common(n):
            s = 0
            for i in range(n):
                if i % 8 == 7:
                    s -= i          # a side trace that reads nothing
                else:
                    s += K
            return s

        def main():
            global K
            out = []
            for k in (3, 3, 1000 - 997, 4, 7):
                K = k
                out.append([rare(400), common(400), rare(400), common(400)])
            return out
    """, ["rare", "common"], FASTPY_HOT_EXIT="4")
    check(res, traced=["rare", "common"], exited=["rare", "common"])
    st = res["stats"]
    assert st["traces_invalidated"] >= 2, st
    if _tier["now"] == "baseline":
        assert st["side_traces"] >= 2 and st["side_trace_runs"] >= 500, st


def test_global_rebound_and_builtin_shadowed_between_calls(tmp_path):
    res = run_prog(tmp_path, """
        SCALE = 3

        def scaled(n):
            s = 0
            for i in range(n):
                s = s + i * SCALE
            return s

        def absolute(n):
            s = 0
            for i in range(n):
                s = s + abs(i - 25) + len(BOX)
            return s

        BOX = [1, 2]

        def main():
            global SCALE, BOX
            out = [scaled(50), scaled(50)]
            SCALE = 2.5
            out.append(scaled(50))
            SCALE = 4
            out.append(scaled(50))
            out.append(absolute(50))
            globals()["abs"] = lambda x: -x       # shadows the builtin
            out.append(absolute(50))
            del globals()["abs"]
            out.append(absolute(50))
            BOX = [1, 2, 3]
            out.append(absolute(50))
            import builtins
            saved = builtins.len
            builtins.len = lambda x: 100
            try:
                out.append(absolute(50))
            finally:
                builtins.len = saved
            out.append(absolute(50))
            SCALE = 0.5 * 9
            out.append(scaled(50))
            return out

        def refcheck():
            return [BOX, SCALE]
    """, ["scaled", "absolute"])
    # Each rebinding between calls changes a namespace version: the next entry releases the trace (it
    # borrows the namespaces' values, which may be gone) and the loop is recorded again.
    check(res, traced=["scaled", "absolute"])
    assert res["stats"]["traces_invalidated"] >= 6, res["stats"]
    assert res["fast"][1] == repr([3675, 3675, 3062.5, 4900, 725, 125, 725, 775, 5625, 775, 5512.5])


# --------------------------------------------------------------------------------- KeyboardInterrupt

def test_keyboard_interrupt_in_traced_while_true(tmp_path):
    res = run_prog(tmp_path, """
        import _thread, threading

        def spin():
            i = 0
            s = 0
            try:
                while True:
                    i = i + 1
                    s = s + i % 7
            except KeyboardInterrupt:
                pass
            # the interrupt lands between two iterations: s is the sum for 1..i
            expect = 0
            for k in range(1, i + 1):
                expect += k % 7
            return sorted(locals()), i > 100, s == expect

        def main():
            t = threading.Timer(0.2, _thread.interrupt_main)
            t.start()
            r = spin()
            t.join()
            return r
    """, ["spin"], leak=False)
    check(res, traced=["spin"], exited=["spin"], leak=False)
    assert "True, True" in res["fast"][1]


# ------------------------------------------------------------------------------ frame state after exits

def test_frame_locals_after_exception_caught_inside_function(tmp_path):
    res = run_prog(tmp_path, """
        def state(xs, d):
            s = 0
            t = 0.0
            last = None
            err = None
            try:
                for i in range(len(xs)):
                    v = xs[i]
                    s = s + v
                    t = t + v / d[i]
                    last = i
            except (ZeroDivisionError, IndexError, TypeError) as e:
                err = type(e).__name__ + ": " + str(e)
            return dict(locals())

        XS = [1000 + i for i in range(50)]
        DS = [0.5 + i for i in range(50)]

        def main():
            out = [state(XS, DS)]
            d = list(DS); d[30] = 0.0
            out.append(state(XS, d))
            out.append(state(XS, DS[:40]))
            x = list(XS); x[20] = 2.5
            out.append(state(x, DS))
            x[25] = "s"
            out.append(state(x, DS))
            return out

        def refcheck():
            return [XS, DS, XS[0], DS[30]]
    """, ["state"])
    check(res, traced=["state"], exited=["state"])


# --------------------------------------------------------------------------- numeric edge values, mixed signs

def test_numeric_edge_values_signs_nan_shifts(tmp_path):
    """Values that change the guarded path inside a hot trace: mixed signs for % and //, -0.0, nan in a
    compare, huge floats, int min/max/abs, right shifts by 63, 64 and 200."""
    res = run_prog(tmp_path, """
        def f(xs, ys):
            out = []
            for i in range(len(xs)):
                a = xs[i]
                b = ys[i]
                out.append(a % b)
                out.append(a // b)
                out.append(-a)
                out.append(1.0 if a < b else 2.0)
                out.append(max(a, b))
                out.append(min(a, b))
                out.append(abs(a))
            return out

        def g(n, sh):
            s = 0
            for i in range(n):
                s = s + ((-i * 1000003) >> sh)
            return s

        XS = [-7.0, 7.0, -0.0, 5.5, -5.5, float("nan"), 1e308, -1e-300] * 3
        YS = [2.0, -2.0, 3.0, -0.5, 0.5, 1.0, 1e-10, 7.0] * 3
        IX = [-7, 7, -(2**62), 2**62, -1, 0, 9, -9] * 3
        IY = [2, -2, 3, -5, 5, 1, -1, 7] * 3

        def main():
            return [repr(f(XS, YS)), f(IX, IY), g(50, 3), g(50, 63), g(50, 64), g(50, 200)]

        def refcheck():
            return [XS, YS, IX, IY, XS[0], IX[2]]
    """, ["f", "g"])
    check(res, traced=["f", "g"], exited=["f", "g"])


def test_unstable_trace_is_dropped_and_recorded_again(tmp_path):
    """A trace whose type guard fails before one iteration completes, FASTPY_HOT_EXIT times in a row, is
    dropped and the loop recorded again for the new types; the results stay CPython's."""
    res = run_prog(tmp_path, """
        import fastpy
        def f(n, x):
            s = 0
            for i in range(n):
                s = s + i * x
            return s

        def main():
            out = [f(100, 2), f(100, 3)]       # an int trace
            out += [f(100, 2.5), f(100, 0.5)]  # x is a float: the int trace exits at entry, then is dropped
            if fastpy.is_enabled():   # the trace now specializes x as a float
                loop = fastpy._fastpy.code_loops(f.__code__)[0]
                rec, _ = fastpy._fastpy.loop_trace_ir(f.__code__, loop["jump"]) or ("", "")
                out.append("x" if "sload_f64 1" in rec else "no float x")
            else:
                out.append("x")
            return out
    """, ["f"], leak=False, FASTPY_HOT_EXIT="2")
    check(res, traced=["f"], leak=False)
    assert res["stats"]["traces_discarded"] >= 1, res["stats"]
    assert res["stats"]["traces_recorded"] >= 2, res["stats"]
    (loop,) = loops_of(res, "f")
    assert loop["abort_reason"] == "unstable" and loop["state"] == "compiled", loop


def test_power_exits_where_cpython_raises_or_changes_type(tmp_path):
    """** in a trace is CPython's own power: after the loop is hot, 0.0 ** -1 raises ZeroDivisionError, a
    negative base to a fractional power gives a complex, and an int power outgrows 64 bits -- each exits and
    the interpreter produces exactly CPython's result or traceback."""
    res = run_prog(tmp_path, """
        import traceback

        def f(xs, e):
            s = 0.0
            for x in xs:
                s = s + x ** e
            return s

        def g(n, b):
            k = 1
            for i in range(n):
                k = k + b ** i
            return k

        def main():
            out = [f([1.0 + i for i in range(50)], 0.5), f([2.0] * 40 + [-8.0], 0.5)]
            try:
                f([1.0] * 40 + [0.0], -1.0)
            except ZeroDivisionError:
                out.append(traceback.format_exc())
            out += [g(20, 3), g(60, 3)]
            return out
    """, ["f", "g"])
    check(res, traced=["f", "g"], exited=["f", "g"], min_kinds=1)


def test_float_power_results_at_the_edges_of_the_range_are_cpythons(tmp_path):
    """x ** e of floats runs libm's pow in the baseline tier's fast path where CPython's float_pow would, and
    defers to CPython's power where pow reports a range error: subnormal and underflowing results (0.0), and
    overflow (OverflowError, after the loop is hot), are exactly CPython's."""
    res = run_prog(tmp_path, """
        import traceback

        def f(xs, e):
            out = []
            for x in xs:
                out.append(x ** e)
            return out

        def main():
            xs = [10.0, 2.0, 1e10, 0.5, 3.0, 1.0, 7.25] * 8
            out = [f(xs, e) for e in (0.5, -320.0, -1074.5, 1e-300, -0.0)]
            out.append(f([0.5, 0.25] * 20, 1e308))
            try:
                f(xs, 400.0)
            except OverflowError:
                out.append(traceback.format_exc())
            return out
    """, ["f"])
    check(res, traced=["f"], exited=["f"], min_kinds=1)


def test_power_by_a_literal_half_is_cpythons_pow_bit_for_bit(tmp_path):
    """x ** 0.5 with the constant 0.5: the baseline tier takes sqrt where that is exactly libm's pow(x, 0.5),
    which CPython calls, and pow elsewhere. Bit for bit CPython's results (float.hex) on random floats, on
    floats whose root lies next to a midpoint between two doubles (where glibc's pow and sqrt differ), and at
    the edges: zero, -0.0, subnormals, powers of two, infinities, NaN, and negatives (a complex: the trace
    exits and CPython's power gives it)."""
    res = run_prog(tmp_path, """
        import random

        def roots(xs):
            out = []
            for x in xs:
                out.append(x ** 0.5)
            return out

        def main():
            rnd = random.Random(5)
            xs = [rnd.random() * 10.0 ** rnd.randint(-300, 300) for _ in range(3000)]
            xs += [float.fromhex(h) for h in ("0x1.5928e6e8447d4p+361", "0x1.f4c29bf4f040dp+875",
                                              "0x1.a9d2481df801p+811", "0x1.06300ebc82edap-792")]
            xs += [0.0, -0.0, 5e-324, 2.0 ** -1022, 2.0 ** -1000, 2.0 ** 1000, 1.0, 4.0, 0.25, 2.0,
                   1.7976931348623157e308, float("inf"), float("nan")]
            out = [r.hex() for r in roots(xs)]
            neg = roots([4.0] * 20 + [-4.0, float("-inf")])
            return out, [repr(z) for z in neg[-3:]]
    """, ["roots"])
    check(res, traced=["roots"], exited=["roots"], min_kinds=1)


def test_math_sqrt_in_a_trace_is_the_instruction_with_cpythons_results_and_errors(tmp_path):
    """math.sqrt(x) is recorded as the IEEE instruction (fsqrt, after a guard that x >= 0): bit for bit
    CPython's results (C's sqrt), -0.0 kept; a NaN exits the trace (CPython gives nan); a negative exits
    and CPython's math.sqrt raises ValueError with its traceback, mid-loop."""
    res = run_prog(tmp_path, """
        import math, random, traceback

        def roots(xs):
            out = []
            for x in xs:
                out.append(math.sqrt(x))
            return out

        def main():
            rnd = random.Random(7)
            xs = [rnd.random() * 10.0 ** rnd.randint(-300, 300) for _ in range(2000)]
            xs += [0.0, -0.0, 5e-324, float.fromhex("0x1.5928e6e8447d4p+361"), float("inf"), 2.0, float("nan")]
            out = [r.hex() for r in roots(xs)]
            try:
                roots([4.0] * 30 + [-1.0])
            except ValueError:
                out.append(traceback.format_exc())
            return out
    """, ["roots"])
    check(res, traced=["roots"], exited=["roots"], min_kinds=1)


def test_float_stored_into_a_list_changes_in_place_only_when_nothing_else_sees_it(tmp_path):
    """a[i] = float: the trace writes the new value into the old float object when the list holds its only
    reference (no allocation), else replaces it. A float that a local, another list or a constant also holds
    keeps its value."""
    res = run_prog(tmp_path, """
        def f(a, n):
            keep = a[0]
            for i in range(n):
                k = i % len(a)
                a[k] = a[k] * 0.5 + 1.0
            return keep, a[:]

        def g(a, b, n):
            for i in range(n):
                a[i % 3] = a[i % 3] + 1.0
            return a[:], b[:]

        def main():
            a = [1.25, 2.5, 3.5, 4.5]
            b = [a[1], a[2]]
            out = [f(a, 100), b]
            c = [0.5, 1.5, 2.5]
            d = [c[0], c[0], c[2]]
            out.append(g(c, d, 90))
            out.append(g([7.0] * 3, [], 90))   # one float object in every item: never in place
            return out
    """, ["f", "g"])
    check(res, traced=["f", "g"])


def test_bool_arithmetic_and_compares_are_int_arithmetic(tmp_path):
    """True and False in arithmetic and compares are 1 and 0 (traced with b2i); bool & bool stays a bool in
    Python and is not traced (the recording aborts)."""
    res = run_prog(tmp_path, """
        def f(n):
            c = 0
            flag = False
            for i in range(n):
                flag = i % 3 == 0
                c = c + flag * 10 + (flag < i) - True
            return c, flag

        def g(n):
            x = True
            for i in range(n):
                x = x & (i < 1000)
            return x

        def main():
            return [f(100), f(7), g(50)]
    """, ["f", "g"])
    check(res, traced=["f"], aborted={"g": "unsupported_type"})


def test_local_unbound_at_a_later_entry_exits_and_raises(tmp_path):
    """A local bound when the loop was recorded is unbound (NULL in the frame) when the trace is entered
    again: the trace must exit before touching it, and CPython's UnboundLocalError follows."""
    res = run_prog(tmp_path, """
        import traceback

        def f(n, make):
            if make:
                a = [1.5] * n
            i = 0
            s = 0.0
            while i < n:
                if i > 0:            # the first iteration (interpreted) never reads `a`
                    s = s + a[i]
                i = i + 1
            return s

        def main():
            out = [f(50, True), f(50, True)]
            try:
                f(50, False)
            except UnboundLocalError:
                out.append(traceback.format_exc())
            return out
    """, ["f"])
    check(res, traced=["f"])


def test_unoptimized_traces_run_every_iteration_in_the_executor(tmp_path):
    """FASTPY_OPT=none (every optimizer pass off, for bisecting): the recorded iteration has no `loop`, so
    each completion restores the frame at the header and the next iteration runs in the executor again --
    not in the interpreter; results identical."""
    res = run_prog(tmp_path, """
        def f(n):
            s = 0.0
            for i in range(n):
                s = s + i * 0.5
            return s

        def main():
            return [f(200), f(200)]
    """, ["f"], FASTPY_OPT="none")
    check(res, traced=["f"])
    (loop,) = res["loops"]["f"]
    assert loop["runs"] >= 300, loop   # ~390 iterations after the loop got hot, one executor run each


def test_restores_write_numbers_into_the_frames_own_objects_only_when_nothing_else_sees_them(tmp_path):
    """A restore writes a float or a one-digit int into the object the frame slot holds when the frame holds
    the only reference (stats' restore_in_place). The trace exits every 7th iteration, and the interpreter
    then leaves in u, s, big and x objects only the frame holds. What must not change: an object something
    else also holds (`kept`, list items), the small ints' identity (CPython's cached objects: `u is
    int(str(u))`), an int changing sign, an int outgrowing one digit."""
    res = run_prog(tmp_path, """
        def f(n):
            x = n * 0.5
            keep_x = n * 0.25
            kept = keep_x          # two references: never written in place
            u = s = big = 0
            items = []
            for i in range(n):
                x = x * 1.0001 + i
                keep_x = keep_x + 1.0
                u = i % 7 + 3      # 3 at the exit: CPython's cached 3, not the frame's object
                s = -(i * 1000) - 7
                big = big * 3 + i + 2 ** 31
                if i % 7 == 0:     # the trace exits here; the interpreter runs the rest
                    items.append(u is int(str(u)))
                    items.append((u, s, big, x))
                    u = i * 1000 + 300       # one-digit ints and a float only the frame holds
                    s = i * 1000 + 301
                    big = i * 1000 + 302
                    x = x + 0.5
            return x, kept, u, s, big, items[-4:], len(items), all(items[::2])

        def main():
            return [f(40), f(41), f(300), f(5)]
    """, ["f"])
    check(res, traced=["f"], exited=["f"])
    if _tier["now"] == "baseline":
        assert res["stats"]["restore_in_place"] >= 1, res["stats"]
