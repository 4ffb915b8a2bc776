"""numpy arrays in traces (interp/record_numpy.cpp): float64/int64 arrays, 1-D and 2-D (`m[i, j]`),
C-contiguous, element loads and stores guarded on type, dtype, ndim and flags; values read from arrays are
numpy scalars in CPython and stay numpy scalars at exits. Same harness as test_trace_guards.py: plain CPython
vs fastpy (FASTPY_TIERS=interp,ir) in one subprocess; identical results, tracebacks, warnings, refcounts."""
import pytest

from test_trace_guards import check, run_prog, trace_tier  # noqa: F401 (autouse: every test per trace tier)

np = pytest.importorskip("numpy")

HEADER = """
        import numpy as np
        import traceback
        import warnings
"""


def test_float64_loads_stores_and_numpy_scalar_results(tmp_path):
    res = run_prog(tmp_path, HEADER + """
        def f(a, b):
            s = 0.0
            x = 0.0
            for i in range(len(a)):
                x = a[i]
                s += x * 2.0
                b[i] = x + 1.0
            return s, type(s).__name__, x, type(x).__name__, float(b.sum())

        def main():
            a = np.arange(100, dtype=np.float64) * 0.5
            b = np.zeros(100)
            return [f(a, b), f(a[:50].copy(), b)]
    """, ["f"])
    check(res, traced=["f"])


def test_2d_int64_tuple_index_and_int64_overflow_warning(tmp_path):
    """m[i, j] on an int64 matrix; then an element overflows: numpy wraps with a RuntimeWarning, which the
    interpreter produces after the trace's overflow check exits."""
    res = run_prog(tmp_path, HEADER + """
        def g(m, k):
            for i in range(m.shape[0]):
                for j in range(m.shape[1]):
                    m[i, j] = m[i, j] * k + 1
            return int(m.sum())

        def main():
            m = np.arange(40, dtype=np.int64).reshape(10, 4)
            out = [g(m, 3), g(m, 2)]
            big = np.full((3, 4), 2**62, dtype=np.int64)
            with warnings.catch_warnings(record=True) as w:
                warnings.simplefilter("always")
                out.append(g(big, 4))
            out.append(sorted({str(x.message) for x in w}))
            return out
    """, ["g"], leak=False)
    check(res, traced=["g"], leak=False)


def test_guards_dtype_layout_readonly_and_bounds(tmp_path):
    """After the trace is hot: an array of another dtype, a non-contiguous view, a read-only array and an
    index out of range -- each exits (or aborts) and CPython's result or exception follows."""
    res = run_prog(tmp_path, HEADER + """
        def f(a, n):
            s = 0.0
            for i in range(n):
                s = s + a[i]
                a[i] = a[i] * 0.5
            return s

        def main():
            out = []
            a = np.arange(64, dtype=np.float64)
            out.append(f(a, 64))
            out.append(f(a, 64))
            out.append(f(np.arange(64, dtype=np.float32), 64))   # float32: other dtype
            out.append(f(np.arange(128.0)[::2], 64))              # a strided view: not C-contiguous
            ro = np.arange(64.0)
            ro.flags.writeable = False
            for arr, n in ((ro, 64), (np.arange(10.0), 64)):      # read-only; too short
                try:
                    out.append(f(arr, n))
                except (ValueError, IndexError):
                    out.append(traceback.format_exc())
            return out
    """, ["f"])
    check(res, traced=["f"], exited=["f"], min_kinds=1)


def test_stencil_offsets_checked_for_the_whole_range(tmp_path):
    """`a[i - 1]`, `a[i + 1]` in `for i in range(lo, hi)`: checked once per entry for the whole range (lo - 1 >= 0,
    hi + 1 <= len(a)), against the dimension loaded before the loop (the stores write data, never a shape).
    A range that reaches past the end raises IndexError at the right i, with the elements before it
    written; lo <= 0 makes a[i - 1] wrap to a[-1], a[-4] as numpy does (the trace runs from the second
    iteration on: lo = -3 reaches it with negative indexes); a shorter output array raises at its store;
    a 2-D stencil's inner offsets likewise."""
    res = run_prog(tmp_path, HEADER + """
        def smooth(a, out, lo, hi):
            for i in range(lo, hi):
                out[i] = a[i - 1] + 0.5 * a[i] + a[i + 1]
            return float(out.sum())

        def lap(g, out):
            n, m = g.shape
            for i in range(1, n - 1):
                for j in range(1, m - 1):
                    out[i, j] = g[i, j - 1] + g[i, j + 1] - 2.0 * g[i, j]
            return float(out.sum())

        def main():
            a = np.arange(50, dtype=np.float64) * 0.25
            res = [smooth(a, np.zeros(50), 1, 49), smooth(a, np.zeros(50), 5, 30)]
            for args in ((a, np.zeros(50), 1, 50), (a, np.zeros(50), 0, 49), (a, np.zeros(50), -3, 20),
                         (a, np.zeros(40), 1, 49)):
                try:
                    res.append(smooth(*args))
                except IndexError:
                    res.append(traceback.format_exc())
                res.append(float(args[1].sum()))
            g = np.arange(120, dtype=np.float64).reshape(10, 12) ** 1.5
            res.append(lap(g, np.zeros((10, 12))))
            res.append(lap(g[:, :7].copy(), np.zeros((10, 7))))
            return res
    """, ["smooth", "lap"])
    check(res, traced=["smooth", "lap"], exited=["smooth"], min_kinds=1)
    out = "\n".join(res["fast"])
    assert out.count("IndexError: index 50 is out of bounds for axis 0 with size 50") == 1, out
    assert out.count("IndexError: index 40 is out of bounds for axis 0 with size 40") == 1, out


def test_float_into_int_array_truncates_and_nan_raises(tmp_path):
    res = run_prog(tmp_path, HEADER + """
        def f(a, v):
            for i in range(len(a)):
                a[i] = v * i
            return a.tolist()

        def main():
            out = [f(np.zeros(30, dtype=np.int64), 1.7), f(np.zeros(30, dtype=np.int64), -0.3)]
            try:
                f(np.zeros(30, dtype=np.int64), float("nan"))
            except ValueError:
                out.append(traceback.format_exc())
            return out
    """, ["f"])
    check(res, traced=["f"])


def test_float32_and_int32_arrays_take_stores(tmp_path):
    """Stores into float32 (rounded to nearest) and int32 arrays are traced; values out of their range exit
    (numpy's own conversion then warns or raises exactly as on CPython); loads from them are not traced."""
    res = run_prog(tmp_path, HEADER + """
        def fill(a, b, n, x):
            for i in range(n):
                a[i] = x * i + 0.1
                b[i] = i * 3 - 7
            return a.tolist(), b.tolist()

        def main():
            a = np.zeros(50, dtype=np.float32)
            b = np.zeros(50, dtype=np.int32)
            out = [fill(a, b, 50, 1.1), fill(a, b, 50, -2.7)]
            with warnings.catch_warnings(record=True) as w:
                warnings.simplefilter("always")
                try:
                    out.append(fill(a, b, 50, 1e38))
                except Exception:
                    out.append(traceback.format_exc())
            out.append(sorted({type(x.message).__name__ for x in w}))
            return out
    """, ["fill"], leak=False)
    check(res, traced=["fill"], leak=False)


def test_float32_and_int32_loads_give_32_bit_scalars_or_64_bit_results(tmp_path):
    """Elements of float32/int32 arrays are numpy.float32/int32 scalars; with a Python number they compute in
    64 bits (numpy 1.24: float32 + float -> float64), and a local holding one keeps its 32-bit type at exits;
    float32 + float32 stays 32-bit and is not traced."""
    res = run_prog(tmp_path, HEADER + """
        def f(a, b):
            s = 0.0
            t = 0
            x = a[0]
            for i in range(len(a)):
                x = a[i]
                s = s + x * 0.5
                t = t + b[i] * 3
            return s, type(s).__name__, t, type(t).__name__, x, type(x).__name__

        def g(a):
            acc = a[0]
            for i in range(1, len(a)):
                acc = acc + a[i]
            return acc, type(acc).__name__

        def main():
            a = (np.arange(60, dtype=np.float32) * np.float32(0.1))
            b = np.arange(60, dtype=np.int32) - 7
            return [f(a, b), f(a[:20].copy(), b[:20].copy()), g(a)]
    """, ["f", "g"])
    check(res, traced=["f"], aborted={"g": "unsupported_type"})


def test_numpy_scalars_that_are_not_python_numbers_as_operands(tmp_path):
    """numpy.float32, int64 and int32 scalars are neither Python floats nor ints: as the right operand of a
    float operation, or math.sqrt's argument, the recorder reads their value through __float__ (it used
    PyLong_AsDouble, whose TypeError surfaced in the program as `an integer is required`)."""
    res = run_prog(tmp_path, HEADER + """
        import math

        def f(a):
            s = 0.0
            for i in range(len(a)):
                s += a[i]
            return s, type(s).__name__

        def h(a):
            t = 0.0
            for i in range(len(a)):
                t += math.sqrt(a[i]) + 1.5 * a[i]
            return t, type(t).__name__

        def main():
            out = []
            for dt in (np.float32, np.int64, np.int32, np.float64):
                a = (np.arange(40) + 1).astype(dt)
                out.append((dt.__name__, f(a), h(a)))
            return out
    """, ["f", "h"])
    check(res, traced=["f", "h"])


def test_numpy_imported_under_fastpy_is_traced(tmp_path, trace_tier):
    # `python -m fastpy prog.py`: numpy's own import runs under fastpy, and a loop of it gets hot while numpy
    # is half imported. The recorder must not take numpy's types from that half-made module (it used to, and
    # then turned numpy support off for the rest of the run): the program's array loop is traced.
    import json
    from conftest import LAUNCHER, clean_env, run, write
    from test_trace_guards import TRACE_TIERS
    write(tmp_path, "prog.py", """
        import json
        import numpy as np
        import fastpy

        def smooth(a, out):
            for i in range(1, a.shape[0] - 1):
                out[i] = 0.25 * a[i - 1] + 0.5 * a[i] + 0.25 * a[i + 1]

        a = np.linspace(0.0, 1.0, 5000)
        out = np.zeros_like(a)
        smooth(a, out)
        loops = fastpy._fastpy.code_loops(smooth.__code__)
        print(json.dumps(dict(r=float(out.sum()), loops=[(l["traced"], l["abort_reason"]) for l in loops])))
    """)
    r = run([LAUNCHER, "-m", "fastpy", "prog.py"], cwd=tmp_path,
            env=clean_env(FASTPY_TIERS=TRACE_TIERS[trace_tier][0], FASTPY_HOT_LOOP="5"))
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout.strip().splitlines()[-1])
    a = np.linspace(0.0, 1.0, 5000)
    want = np.zeros_like(a)
    want[1:-1] = 0.25 * a[:-2] + 0.5 * a[1:-1] + 0.25 * a[2:]
    assert res["r"] == float(want.sum())
    assert res["loops"] == [[True, ""]], res["loops"]


def test_numpy_scalar_compare_branches_as_numpy_does(tmp_path):
    """A compare with a numpy scalar gives a numpy.bool_, not True: the recorder took every such result for
    False and recorded the branch the interpreter did not take (a value out of range then kept it: a silent
    wrong answer; found by fuzz_nested.py)."""
    res = run_prog(tmp_path, HEADER + """
        def f(a, xs):
            for i in range(len(xs)):
                a[1] = 1e308 * xs[i]
                if not -1e200 < a[1] < 1e200:
                    a[1] = 0.5
                    xs[i] = -1
            return a.tolist(), xs

        def main():
            return [f(np.array([0.5, -1.5, 2.25]), [0] * 12 + [3, 0, -2, 1, 0, 0] * 4) for _ in range(3)]
    """, ["f"])
    check(res, traced=["f"], exited=["f"])


def test_numpy_scalar_float_overflow_warns_as_numpy_does(tmp_path):
    """numpy reports a float64 scalar's overflow and invalid results (a RuntimeWarning; under
    np.errstate(all='raise') a FloatingPointError): the trace exits before an op whose result is not finite,
    and the interpreter does it as numpy does (before, the trace computed inf silently; found by fuzz)."""
    res = run_prog(tmp_path, HEADER + """
        def g(a, k):
            s = 0.0
            for i in range(len(a)):
                s = s + a[i] * k
            return s

        def main():
            a = np.ones(40)
            a[25] = 1e10
            out = []
            with warnings.catch_warnings(record=True) as w:
                warnings.simplefilter("always")
                out.append([float(g(a, 1e300)), float(g(a, 2.0))])
            out.append([str(x.message) for x in w])
            with np.errstate(all="raise"):
                try:
                    g(a, 1e300)
                except FloatingPointError as e:
                    out.append(str(e))
            return out
    """, ["g"])
    check(res, traced=["g"], exited=["g"])
