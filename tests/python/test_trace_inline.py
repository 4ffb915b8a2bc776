"""Calls to Python functions followed into by the recorder (inlining, FASTPY_MAX_INLINE levels): the callee's
instructions are part of the trace, and a guard failing inside it re-creates the callee's frame at the exit
(the caller's CALL re-executed, the callee resumed mid-frame: stats' trace_frames_materialized). Same harness
as test_trace_guards.py: plain CPython vs fastpy in one subprocess, identical results, tracebacks and
refcounts, the loop traced and run by the IR executor."""
from test_trace_guards import check, loops_of, run_prog, trace_tier  # noqa: F401 (autouse: every test per trace tier)


def test_two_levels_inlined_same_result(tmp_path):
    res = run_prog(tmp_path, """
        def sq(x):
            return x * x

        def norm2(a, b):
            t = sq(a)
            return t + sq(b)

        def f(n):
            s = 0.0
            for i in range(n):
                s += norm2(i * 0.5, 1.5)
            return s

        def main():
            return [f(200), f(300)]
    """, ["f"])
    check(res, traced=["f"])
    assert res["stats"]["traces_aborted"] == 0, res["stats"]


def test_exception_inside_inlined_call_has_cpython_traceback(tmp_path):
    """The divisor becomes zero inside the inlined callee two levels down: the exit materializes both
    frames and the interpreter raises in the innermost, with CPython's traceback (lines of every frame)."""
    res = run_prog(tmp_path, """
        import traceback

        def inv(x, k):
            y = x - k
            return 1.0 / y

        def mid(a, k):
            z = a * 2.0
            return inv(z, k) + 1.0

        def f(n, k):
            s = 0.0
            for i in range(n):
                s += mid(i * 0.5, k)
            return s

        def main():
            out = []
            for k in (-1.0, 30.0, 90.0):
                try:
                    out.append(f(100, k))
                except ZeroDivisionError:
                    out.append(traceback.format_exc())
            return out
    """, ["f"])
    check(res, traced=["f"], exited=["f"], min_kinds=1)
    assert res["stats"]["trace_frames_materialized"] >= 2, res["stats"]


def test_callee_locals_and_type_change_inside_callee(tmp_path):
    """A value inside the callee turns from int to float mid-loop (a type guard inside the inlined frame
    fails) and the callee's own locals at that point must be what CPython has."""
    res = run_prog(tmp_path, """
        def step(v, i):
            w = v + i
            if i == 70:
                w = w + 0.5          # from here on the caller's acc is a float
            return w

        def f(n):
            acc = 0
            for i in range(n):
                acc = step(acc, i)
            return acc

        def main():
            return [f(100), f(50), f(100)]
    """, ["f"])
    check(res, traced=["f"], exited=["f"], min_kinds=1)


def test_callee_rebound_or_code_swapped_between_runs(tmp_path):
    """The called global is rebound (dict version guard) and the function's __code__ replaced (func_code
    guard) after the trace is hot: results follow CPython."""
    res = run_prog(tmp_path, """
        def g(x):
            return x + 1

        def g2(x):
            return x * 2

        def f(n):
            s = 0
            for i in range(n):
                s = g(s) % 100003
            return s

        def main():
            out = [f(100)]
            g.__code__ = g2.__code__     # same function object, new code
            out.append(f(100))
            globals()["g"] = lambda x: x - 3
            out.append(f(100))
            return out
    """, ["f"], leak=False)
    check(res, traced=["f"], exited=["f"], min_kinds=1, leak=False)


def test_inline_depth_bound_and_unsupported_callees_abort(tmp_path):
    """FASTPY_MAX_INLINE=1: a call two levels deep aborts the recording (call_python); so does a closure."""
    res = run_prog(tmp_path, """
        def leaf(x):
            return x + 1

        def mid(x):
            return leaf(x) * 2

        def f(n):
            s = 0
            for i in range(n):
                s = mid(s) % 1009
            return s

        def main():
            return [f(50), f(50)]
    """, ["f"], FASTPY_MAX_INLINE="1")
    check(res, aborted={"f": "call_python"})


def test_method_calls_inlined_and_their_guards(tmp_path):
    """Methods found by LOAD_METHOD are inlined with self first; an instance attribute shadowing the method,
    and the method replaced on the class, after the trace is hot: results follow CPython."""
    res = run_prog(tmp_path, """
        class V:
            def __init__(self, x, y):
                self.x = x
                self.y = y
            def dot(self, o):
                return self.x * o.x + self.y * o.y
            def scale(self, k):
                self.x = self.x * k
                self.y = self.y * k

        def f(vs, n):
            s = 0.0
            a = vs[0]
            for i in range(n):
                b = vs[i % len(vs)]
                s += a.dot(b)
                b.scale(1.0)
            return s

        def main():
            vs = [V(i * 0.5, 1.0 - i) for i in range(5)]
            out = [f(vs, 100), f(vs, 200)]
            vs[0].dot = lambda o: 0.25       # shadows the method on the instance `a`
            out.append(f(vs, 100))
            V.dot = lambda self, o: 1.0      # the class changes
            out.append(f(vs, 100))
            return out
    """, ["f"], leak=False)
    check(res, traced=["f"], exited=["f"], min_kinds=1, leak=False)


def test_recursion_limit_counts_inlined_calls(tmp_path):
    """An inlined call makes no frame, but CPython would: near the recursion limit the trace must exit so
    that the call raises RecursionError at exactly the depth CPython does."""
    res = run_prog(tmp_path, """
        import sys

        def h(x):
            return x + 1

        def g(x):
            return h(x) + 1        # two inlined levels: CPython fails in g at one depth (checked)

        def f(n):
            s = 0
            for i in range(n):
                if i > 0:          # the first (interpreted) iteration makes no call
                    s = g(s)
            return s

        def at_depth(k):
            return f(50) if k == 0 else at_depth(k - 1)

        def main():
            out = [f(50), f(50)]
            old = sys.getrecursionlimit()
            sys.setrecursionlimit(200)
            try:
                for k in range(150, 200):
                    try:
                        at_depth(k)
                    except RecursionError:
                        out.append(("RecursionError at", k))
                        break
            finally:
                sys.setrecursionlimit(old)
            return out
    """, ["f"], leak=False)
    check(res, traced=["f"], leak=False)
