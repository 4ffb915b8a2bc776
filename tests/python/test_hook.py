"""The PEP 523 hook: which frames it sees, where they go, chaining, co_extra lifetime, C-stack guard."""
import asyncio
import gc
import sys
import threading

import pytest

from conftest import LAUNCHER, PYTHON, clean_env, run
from conftest import stats_delta as delta


def loop(n):
    total = 0
    for i in range(n):
        total += i
    return total


def test_enable_disable_and_context_manager(fastpy_mod):
    import fastpy._fastpy as native
    assert not fastpy_mod.is_enabled() and not native.state()["hook_installed"]
    with fastpy_mod.enabled():
        assert fastpy_mod.is_enabled() and native.state()["hook_installed"]
        with fastpy_mod.enabled():
            pass
        assert fastpy_mod.is_enabled()          # the inner block restored the outer state
    assert not fastpy_mod.is_enabled() and not native.state()["hook_installed"]


def test_frames_are_seen_and_counted(fastpy_mod):
    d = delta(fastpy_mod, lambda: [loop(10) for _ in range(50)])
    assert d["frames_seen"] == 0                 # not enabled: no hook, nothing seen
    fastpy_mod.enable()
    d = delta(fastpy_mod, lambda: [loop(10) for _ in range(50)])
    fastpy_mod.disable()
    assert d["frames_seen"] >= 51                # 50 calls of loop + the list comprehension
    assert d["frames_cpython"] + d["frames_interp"] == d["frames_seen"] - d["frames_generator"] - d["frames_throw"] - d["frames_tracing"]


def test_generators_coroutines_and_throw_go_to_cpython(fastpy_mod):
    def gen(n):
        for i in range(n):
            try:
                yield i
            except KeyError:
                yield -1

    async def coro():
        await asyncio.sleep(0)
        return 5

    def work():
        g = gen(3)
        assert next(g) == 0 and g.throw(KeyError) == -1 and list(g) == [1, 2]
        assert asyncio.run(coro()) == 5

    with fastpy_mod.enabled():
        d = delta(fastpy_mod, work)
    assert d["frames_generator"] >= 5
    assert d["frames_throw"] >= 1


def test_tracing_sends_frames_to_cpython_with_identical_events(fastpy_mod):
    def traced():
        events = []
        def tracer(frame, event, arg):
            events.append((event, frame.f_code.co_name, frame.f_lineno))
            return tracer
        sys.settrace(tracer)
        loop(3)
        sys.settrace(None)
        return events

    plain = traced()
    with fastpy_mod.enabled():
        d = delta(fastpy_mod, lambda: None)
        before = fastpy_mod.stats()["frames_tracing"]
        fast = traced()
        assert fastpy_mod.stats()["frames_tracing"] > before
    assert fast == plain and len(plain) > 5


def test_jit_and_nojit_marks_live_in_co_extra_and_die_with_the_code(fastpy_mod):
    import fastpy._fastpy as native
    ns = {}
    exec("def f(n):\n    return n + 1\n", ns)
    f = ns["f"]
    before = fastpy_mod.stats()
    assert fastpy_mod.jit(f) is f
    assert native.code_marks(f.__code__) == {"jit": True, "nojit": False, "lifted": False}
    assert native.state()["hook_installed"]      # @jit works without enable()
    assert not fastpy_mod.is_enabled()
    del f, ns
    gc.collect()
    after = fastpy_mod.stats()
    assert after["code_freed"] - before["code_freed"] == 1
    assert not native.state()["hook_installed"]  # last @jit code died: the hook is gone again
    g = fastpy_mod.nojit(lambda: 1)
    assert native.code_marks(g.__code__) == {"jit": False, "nojit": True, "lifted": False}
    with pytest.raises(TypeError, match="expects a Python function"):
        fastpy_mod.jit(len)


def test_many_marked_functions_do_not_leak(fastpy_mod):
    before = fastpy_mod.stats()
    for _ in range(2000):
        ns = {}
        exec("def f():\n    pass\n", ns)
        fastpy_mod.jit(ns["f"])
    del ns
    gc.collect()
    after = fastpy_mod.stats()
    assert after["code_marked"] - before["code_marked"] == 2000
    assert after["code_freed"] - before["code_freed"] == 2000


def test_chains_to_an_eval_function_installed_before(fastpy_mod):
    import _chain_hook
    import fastpy._fastpy as native
    _chain_hook.install()
    try:
        fastpy_mod.enable()
        assert native.state()["chained"]
        seen = _chain_hook.frames()
        d = delta(fastpy_mod, lambda: [loop(5) for _ in range(20)])
        assert d["frames_chained"] >= 20
        assert _chain_hook.frames() - seen >= 20   # the earlier hook still sees every frame
        fastpy_mod.disable()
        assert _chain_hook.installed()             # restored, not replaced by CPython's default
    finally:
        _chain_hook.uninstall()
    assert _chain_hook.is_default()


def test_fastpy_stays_a_pass_through_under_a_later_hook(fastpy_mod):
    import _chain_hook
    fastpy_mod.enable()
    _chain_hook.install()                          # installed on top of fastpy's
    fastpy_mod.disable()
    assert _chain_hook.installed()                 # fastpy does not pull it out from under it
    assert loop(10) == 45
    _chain_hook.uninstall()
    assert not _chain_hook.is_default()            # fastpy's pass-through is back in place
    fastpy_mod.enable()
    fastpy_mod.disable()
    assert _chain_hook.is_default()


RECURSE = """
import sys, fastpy
{setup}
def r(n):
    return 0 if n == 0 else 1 + r(n - 1)
depth = 0
def probe(n):
    global depth
    depth = n
    probe(n + 1)
try:
    probe(0)
except RecursionError as e:
    print("RecursionError", depth, e)
"""


def test_recursion_error_where_cpython_raises_it():
    plain = run([LAUNCHER, "-c", RECURSE.format(setup="")])
    fast = run([LAUNCHER, "-c", RECURSE.format(setup="fastpy.enable()")])
    assert plain.stdout.startswith("RecursionError")
    assert fast.stdout == plain.stdout, fast.stderr


@pytest.mark.parametrize("stack", [None, 512 * 1024])
def test_deep_recursion_never_segfaults(stack):
    setup = "sys.setrecursionlimit(10**6); fastpy.enable()"
    body = RECURSE.format(setup=setup)
    if stack:   # a thread with a small stack
        body = ("import threading\nthreading.stack_size(%d)\n" % stack +
                "def main():\n" + "".join("    " + l + "\n" for l in body.splitlines()) +
                "t = threading.Thread(target=main); t.start(); t.join()\n")
    out = run([LAUNCHER, "-c", body], env=clean_env())
    assert out.returncode == 0, (out.returncode, out.stderr[-2000:])
    assert "RecursionError" in out.stdout and "maximum recursion depth exceeded" in out.stdout


def test_stack_info_guard_is_sane():
    import fastpy._fastpy as native
    info = native.stack_info()
    assert info["size"] >= 1 << 20 and 16 << 10 <= info["margin"] <= 256 << 10
    assert 0 < info["remaining"] <= info["size"]


def test_jit_code_alive_at_interpreter_exit(tmp_path):
    """co_extra free callbacks run during finalization (they may uninstall the hook): no crash, exit 0."""
    prog = tmp_path / "p.py"
    prog.write_text("import fastpy, threading\n"
                    "@fastpy.jit\ndef f(n):\n    return sum(range(n))\n"
                    "class C:\n    @fastpy.jit\n    def m(self):\n        return f(4)\n"
                    "t = threading.Thread(target=f, args=(100,)); t.start(); t.join()\n"
                    "print(f(10), C().m())\n")
    for argv in ([LAUNCHER, str(prog)], [LAUNCHER, "-X", "dev", "-m", "fastpy", str(prog)]):
        out = run(argv)
        assert (out.returncode, out.stdout, out.stderr) == (0, "45 6\n", "")


def test_explain_reports_marks_and_generators(fastpy_mod):
    def gen():
        yield 1
    assert "not eligible" in fastpy_mod.explain(gen)
    assert "generator/coroutine" in fastpy_mod.explain(gen)
    assert "marked @nojit" in fastpy_mod.explain(fastpy_mod.nojit(lambda: 0))
    with fastpy_mod.enabled():
        assert "eligible (whole-program mode)" in fastpy_mod.explain(loop)


def test_import_fastpy_does_not_load_llvm_and_the_llvm_module_loads_on_demand():
    # libLLVM costs more start-up than the rest of fastpy: only fastpy._fastpy_llvm loads it. Loading it after
    # _fastpy (whose libmimalloc defines malloc/free/new/delete) must leave one allocator per pointer: LLVM's
    # static constructors crashed in mi_free when libstdc++'s operator new was bound to mimalloc's.
    src = r"""
import fastpy
fastpy.enable()
def f(n):
    s = 0
    for i in range(n):
        s += i
    return s
f(10000)
maps = lambda: open("/proc/self/maps").read()
print("before", "libLLVM" in maps())
from fastpy import _fastpy_llvm
print("after", "libLLVM" in maps())
r, opt = _fastpy_llvm.probe_llvm("define i64 @f(i64 %x) {\n  %y = mul i64 %x, 3\n  ret i64 %y\n}", "f", 14)
print("orc", r)
print("ptx", ".target sm_90" in _fastpy_llvm.probe_ptx("sm_90"))
print("stats", fastpy.stats()["traces_compiled"] >= 1)
"""
    r = run([LAUNCHER, "-c", src], env=clean_env(FASTPY_TIERS="interp,baseline"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["before", "False", "after", "True", "orc", "42", "ptx", "True", "stats", "True"], r.stdout
