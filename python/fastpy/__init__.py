"""fastpy: a tracing JIT compiler for CPython 3.11.

Whole-program mode::

    import fastpy
    fastpy.enable()            # or: python -m fastpy script.py args...

Per function::

    @fastpy.jit
    def hot(xs): ...

Parameters come from FASTPY_* environment variables (``python -m fastpy --help-params``) and
``fastpy.config(name=value)``; ``fastpy.stats()`` reports what ran where.
"""
import sys as _sys

from . import _fastpy

__all__ = ["ConfigError", "enable", "disable", "enabled", "is_enabled", "jit", "nojit", "config",
           "stats", "explain"]
__version__ = "0.1.0"

ConfigError = _fastpy.ConfigError
_CodeType = type((lambda: None).__code__)   # types.CodeType, without importing types at start-up

# FASTPY_* values are checked at import, before any user code runs. `python -m fastpy` and the `fastpy`
# command (whose __main__ says so: python/fastpy_launcher.in) report the error themselves (one clean line,
# exit status 2), so the package import must not fail there.
_env_error = _fastpy.load_env()
if (_env_error is not None and _sys.argv[:1] != ["-m"]
        and not getattr(_sys.modules.get("__main__"), "_fastpy_launcher", False)):
    raise ConfigError(_env_error)


def _print_stats_at_exit():
    """FASTPY_LOG=stats: one line `fastpy stats: {json}` on stderr when the process ends."""
    import json
    print("fastpy stats: " + json.dumps(stats(), sort_keys=True), file=_sys.stderr, flush=True)


if _env_error is None and "stats" in str(_fastpy.config_get()["log"]).split(","):
    import atexit as _atexit
    _atexit.register(_print_stats_at_exit)


def _check_env():
    if _env_error is not None:
        raise ConfigError(_env_error)


def enable():
    """Run every eligible frame of this interpreter under fastpy (whole-program mode)."""
    _check_env()
    _fastpy.set_whole_program(True)


def disable():
    """Leave whole-program mode; @jit functions stay under fastpy."""
    _fastpy.set_whole_program(False)


def is_enabled():
    """True while whole-program mode is on."""
    return _fastpy.state()["whole_program"]


class _Enabled:
    # (A class rather than contextlib.contextmanager: importing contextlib is a third of `import fastpy`.)
    def __enter__(self):
        self._was = is_enabled()
        enable()
        return None

    def __exit__(self, *exc):
        _fastpy.set_whole_program(self._was)
        return False


def enabled():
    """``with fastpy.enabled():`` whole-program mode for the block, then the previous state again."""
    return _Enabled()


def _code_of(obj, decorator):
    code = getattr(obj, "__code__", None)
    if isinstance(obj, _CodeType):
        return obj
    if isinstance(code, _CodeType):
        return code
    if isinstance(obj, (classmethod, staticmethod)):
        return _code_of(obj.__func__, decorator)
    raise TypeError(f"@fastpy.{decorator} expects a Python function, got {type(obj).__name__}")


def jit(func):
    """Compile this function's loops (and trace through what it calls) even without fastpy.enable()."""
    _check_env()
    _fastpy.mark_code(_code_of(func, "jit"), "jit")
    return func


def nojit(func):
    """Keep this function on CPython's own evaluator, also in whole-program mode."""
    _fastpy.mark_code(_code_of(func, "nojit"), "nojit")
    return func


def config(**params):
    """Set parameters by name (see ``python -m fastpy --help-params``); returns all current values.

    Raises ConfigError for a bad value and TypeError for an unknown name; nothing is changed then.
    """
    _check_env()
    before = _fastpy.config_get()
    try:
        for name, value in params.items():
            _fastpy.config_set(name, value)
    except BaseException:
        for name, value in before.items():
            _fastpy.config_set(name, value)
        raise
    return _fastpy.config_get()


def stats():
    """Counters (names documented in docs/stats.md) of what fastpy did, as a dict.

    ``stats()["handovers"]`` maps an opcode name to the number of frames the fastpy interpreter handed
    over to CPython's evaluator at that instruction; ``stats()["aborts"]`` maps an abort reason to the
    number of trace recordings it stopped.
    """
    import dis
    result = _fastpy.stats()
    result["handovers"] = {dis.opname[op]: n for op, n in sorted(_fastpy.handovers().items())}
    result["aborts"] = _fastpy.aborts()
    return result


def explain(func, verbose=False):
    """What fastpy knows and decided about a function, as text (verbose: with each loop trace's IR)."""
    code = _code_of(func, "explain")
    marks = _fastpy.code_marks(code)
    state = _fastpy.state()
    lines = [f"{code.co_qualname} ({code.co_filename}:{code.co_firstlineno})"]
    if marks["nojit"]:
        lines.append("  marked @nojit: always runs on CPython's evaluator")
    elif marks["jit"] or state["whole_program"]:
        why = "@jit" if marks["jit"] else "whole-program mode"
        lines.append(f"  eligible ({why}); tiers enabled: {config()['tiers']}")
    else:
        lines.append("  not eligible: fastpy is not enabled and the function is not marked @jit")
    import inspect
    if code.co_flags & (inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR):
        lines.append("  generator/coroutine: runs on CPython's evaluator")
    loops = _fastpy.code_loops(code)
    if loops is None:
        lines.append("  not run by fastpy yet")
        if state["whole_program"] and not marks["jit"] and config()["imports"] == "cpython" and \
                stats()["imports_cpython"]:
            lines.append("  (what an import runs, its module's body and the calls it makes, stays on CPython's "
                         "evaluator: FASTPY_IMPORTS=fastpy changes that)")
    elif not loops:
        if marks["jit"]:
            lines.append("  no loops: runs in the fastpy interpreter (@jit)")
        elif marks["lifted"]:
            lines.append("  no loops: stays on CPython's evaluator, with the hook lifted (nothing it called reached "
                         "fastpy: the calls beneath are CPython's own, inlined; FASTPY_HOOK_LIFT)")
        else:
            lines.append("  no loops: stays on CPython's evaluator")
    for loop in loops or ():
        line = code.co_firstlineno
        for start, _end, lineno in code.co_lines():
            if start <= loop["header"] and lineno is not None:
                line = lineno
        lines.append(f"  loop at line {line} (offset {loop['header']}): {loop['state']}, "
                     f"{loop['count']} back-edges counted")
        if loop["aborts"]:
            lines.append(f"    recording aborted {loop['aborts']} time(s), last because: {loop['abort_reason']}")
        if loop["traced"]:
            exits = ", ".join(f"guard %{g}: {n}" for g, n in sorted(loop["exits"].items())) or "none"
            where = (f"machine code ({loop['code_bytes']} bytes, baseline tier)" if loop["tier"] == "baseline"
                     else "the IR reference executor")
            lines.append(f"    trace run by {where}, entered {loop['runs']} time(s); side exits: {exits}")
            if loop["side_traces"]:
                sides = ", ".join(f"from guard %{g}: run {n} time(s)" for g, n in sorted(loop["side_traces"].items()))
                lines.append(f"    side traces: {sides}")
            if verbose:
                recorded, optimized = _fastpy.loop_trace_ir(code, loop["jump"])
                lines.append("    recorded IR:")
                lines.extend("      " + l for l in recorded.splitlines())
                lines.append("    optimized IR:")
                lines.extend("      " + l for l in optimized.splitlines())
    return "\n".join(lines)
