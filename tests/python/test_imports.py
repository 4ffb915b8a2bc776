"""The code an import runs (python/hook.cpp, FASTPY_IMPORTS): in whole-program mode, importlib's
_find_and_load and everything beneath it (finding the module, its body, what the body calls) runs on CPython's
evaluator by default, with the hook lifted while no @fastpy.jit function exists. What must hold: output and
tracebacks are CPython's; the imported module's functions, called after the import, are compiled as any
code; a @fastpy.jit function is compiled even when the import itself calls it; an import that fails raises as
in CPython; and FASTPY_IMPORTS=fastpy runs the import's loops in fastpy again."""
import json
import os

import pytest

from conftest import LAUNCHER, assert_same, run_both, write

pytestmark = pytest.mark.skipif("baseline" not in os.environ.get("FASTPY_TIERS", "interp,baseline"),
                                reason="asserts that loops were compiled by the baseline tier")

HEAVY = """
import fastpy

def at_import(n):                 # a loop the module body runs once, at import
    s = 0
    for i in range(n):
        s += i % 7
    return s

@fastpy.jit
def jitted(n):                    # a @jit function the module body calls
    s = 0.0
    for i in range(n):
        s += i * 0.5
    return s

def later(n):                     # called by the script after the import
    s = 0
    for i in range(n):
        s += i % 5
    return s

TOTAL = 0
for k in range(3000):             # the module body's own loop
    TOTAL += k & 3
FIRST = at_import(3000)
SECOND = jitted(3000)
"""

MAIN = """
import json, sys
import fastpy
from fastpy import _fastpy
import heavy
print(heavy.TOTAL, heavy.FIRST, heavy.SECOND, heavy.later(5000))
try:
    import broken
except ZeroDivisionError as e:
    print("broken:", e)
def state(f):
    return [l["state"] for l in (_fastpy.code_loops(f.__code__) or [])]
st = fastpy.stats()
print("STATE", json.dumps(dict(at_import=state(heavy.at_import), jitted=state(heavy.jitted),
                               later=state(heavy.later), imports=st["imports_cpython"],
                               compiled=st["traces_compiled"], explain=fastpy.explain(heavy.at_import))),
      file=sys.stderr)
"""

BROKEN = """
for i in range(10):
    pass
x = 1 / 0
"""


def run_mode(tmp_path, env):
    write(tmp_path, "heavy.py", HEAVY)
    write(tmp_path, "broken.py", BROKEN)
    plain, fast = run_both(tmp_path, MAIN, env={"FASTPY_HOT_LOOP": "50", **env})
    lines = fast.stderr.splitlines()
    state = json.loads([l for l in lines if l.startswith("STATE ")][-1][6:])
    plain_err = [l for l in plain.stderr.splitlines() if not l.startswith("STATE ")]
    assert fast.returncode == plain.returncode == 0, (plain.stderr, fast.stderr)
    assert fast.stdout == plain.stdout
    assert [l for l in lines if not l.startswith("STATE ")] == plain_err
    assert "broken: division by zero" in fast.stdout
    return state


def test_an_imports_code_runs_on_cpython_and_its_functions_are_compiled_later(tmp_path):
    st = run_mode(tmp_path, {})
    assert st["imports"] >= 2, st                    # heavy, broken (and what they import)
    assert "compiled" not in st["at_import"], st     # ran at import only: on CPython's evaluator
    assert "compiled" in st["jitted"], st            # @jit: compiled although the import called it
    assert "compiled" in st["later"], st             # called after the import: as any code
    assert "FASTPY_IMPORTS=fastpy" in st["explain"], st["explain"]   # explain says why at_import never ran


def test_fastpy_imports_fastpy_runs_an_imports_loops_in_fastpy(tmp_path):
    st = run_mode(tmp_path, {"FASTPY_IMPORTS": "fastpy"})
    assert st["imports"] == 0, st
    assert "compiled" in st["at_import"], st
    assert "compiled" in st["jitted"] and "compiled" in st["later"], st
    assert "FASTPY_IMPORTS" not in st["explain"], st["explain"]


def test_bad_fastpy_imports_value_is_a_clear_error(tmp_path):
    plain, fast = run_both(tmp_path, "print(1)\n", env={"FASTPY_IMPORTS": "sometimes"})
    assert fast.returncode == 2, fast.stderr
    assert "FASTPY_IMPORTS" in fast.stderr and "cpython" in fast.stderr and "sometimes" in fast.stderr
