"""python -m fastpy [options] (script.py | -m module | -c command) [args...]

Runs a program exactly as `python script.py args...` would (same sys.argv, __main__, exit status and
uncaught-exception traceback), with fastpy's whole-program mode enabled."""
import os
import sys

import fastpy

USAGE = """usage: python -m fastpy [--help | --help-params | --help-stats | --version]
       python -m fastpy script.py [args...]
       python -m fastpy -m module [args...]
       python -m fastpy -c command [args...]
   or: fastpy ... (the same options; starts ~4 ms sooner than `python -m`, which imports runpy)

Runs the program like `python script.py args...`, with fastpy enabled.
Parameters come from FASTPY_* environment variables: see --help-params."""


def fail(message, status=2):
    print(f"fastpy: error: {message}", file=sys.stderr)
    sys.exit(status)


def strip_launcher_frames(tb, first_user_file, keep_if_absent):
    """Drop the traceback entries of fastpy's launcher and runpy, as `python script.py` shows none. With no
    entry of the user's file (a script or -c command that did not compile) there is no traceback at all, as
    under CPython; a -m module keeps runpy's entries then (keep_if_absent), as `python -m` shows them."""
    cur = tb
    while cur is not None and cur.tb_frame.f_code.co_filename != first_user_file:
        cur = cur.tb_next
    if cur is None and keep_if_absent:
        cur = tb
        while cur is not None and cur.tb_frame.f_code.co_filename == __file__ and cur.tb_next is not None:
            cur = cur.tb_next
    return cur


def report_uncaught(exc, user_file, keep_if_absent):
    """What CPython does for an uncaught exception: set sys.last_*, call sys.excepthook, exit 1 —
    or for KeyboardInterrupt, die of SIGINT like the interpreter does."""
    tb = strip_launcher_frames(exc.__traceback__, user_file, keep_if_absent)
    exc.__traceback__ = tb   # the default excepthook prints the exception's own traceback
    sys.last_type, sys.last_value, sys.last_traceback = type(exc), exc, tb
    sys.excepthook(type(exc), exc, tb)
    if isinstance(exc, KeyboardInterrupt):
        import signal
        sys.stdout.flush()
        sys.stderr.flush()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    return 1


def run_target(argv):
    """Runs the program; returns (user_file used to trim tracebacks, callable)."""
    if argv[0] == "-m":
        if len(argv) < 2:
            fail("-m needs a module name")
        sys.argv = argv[1:]
        set_path0(os.getcwd())   # as `python -m` sets it (the fastpy command starts with its own folder)
        name = argv[1]
        return module_file(name), lambda: run_module(name)
    if argv[0] == "-c":
        if len(argv) < 2:
            fail("-c needs a command")
        sys.argv = ["-c"] + argv[2:]
        set_path0("")   # as `python -c` sets it
        main = {"__name__": "__main__", "__builtins__": __builtins__, "__doc__": None}
        # exec of the string, as CPython's -c (PyRun_StringFlags, "<string>"); compile() would build the ast
        # module's classes first (python/module.cpp, run_file).
        return "<string>", lambda: exec(argv[1], main)
    script = argv[0]
    if not os.path.exists(script):
        print(f"{sys.executable}: can't open file {os.path.abspath(script)!r}: "
              f"[Errno 2] No such file or directory", file=sys.stderr)
        sys.exit(2)
    sys.argv = argv
    path = os.path.abspath(script)   # like `python script.py`: __file__ and tracebacks use the absolute path
    if not os.path.isfile(script):   # a directory or zip file with __main__.py
        set_path0(script)
        return None, lambda: run_path(script)
    set_path0(os.path.dirname(path))
    return path, lambda: run_script(path)


def set_path0(entry):
    """sys.path[0] as `python` would set it for the program. Under -P / PYTHONSAFEPATH python puts nothing
    there (and `python -P -m fastpy` left the standard library's first directory in place): nor does fastpy."""
    if not sys.flags.safe_path:
        sys.path[0] = entry


def run_module(name):
    import runpy   # imported here, not up front: the `fastpy` command starts without it (python/fastpy_launcher.in)
    return runpy.run_module(name, run_name="__main__", alter_sys=True)


def run_path(path):
    import runpy
    return runpy.run_path(path, run_name="__main__")


def run_script(path):
    """Runs a script file in a fresh __main__ module set up as CPython sets up `python script.py`'s."""
    import builtins
    # The loader class CPython gives a script's __main__ (importlib.machinery's, without importing
    # importlib: ~0.3 ms of start-up); a module's type is the type of any module.
    from _frozen_importlib_external import SourceFileLoader
    main = type(sys)("__main__")
    main.__dict__.update(__file__=path, __cached__=None, __package__=None, __spec__=None,
                         __loader__=SourceFileLoader("__main__", path),
                         __builtins__=builtins, __annotations__={})
    sys.modules["__main__"] = main
    fastpy._fastpy.run_file(path, main.__dict__)   # not compile() + exec(): see python/module.cpp


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    if argv[0] == "--help-params":
        print(fastpy._fastpy.params_help(), end="")
        return 0
    if argv[0] == "--help-stats":
        for name, doc in fastpy._fastpy.stats_docs().items():
            print(f"  {name:20} {doc}")
        print("\nstats()['aborts'] counts aborted recordings by reason (interp/abort_reasons.def):")
        for name, doc in fastpy._fastpy.abort_docs().items():
            print(f"  {name:20} {doc}")
        return 0
    if argv[0] == "--version":
        print(f"fastpy {fastpy.__version__}")
        return 0
    if fastpy._env_error is not None:
        fail(fastpy._env_error)
    if argv[0].startswith("-") and argv[0] not in ("-m", "-c"):
        fail(f"unknown option {argv[0]!r} (see --help)")
    user_file, run = run_target(argv)
    fastpy.enable()
    try:
        run()
    except SystemExit:
        raise
    except BaseException as exc:   # noqa: B902 - the interpreter's own top level catches everything too
        return report_uncaught(exc, user_file, keep_if_absent=user_file is None or argv[0] == "-m")
    return 0


def module_file(name):
    """The file `python -m name` runs (a package runs its __main__), or None when it cannot be found
    (runpy then raises the same error `python -m` reports)."""
    import importlib.util
    try:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations is not None:
            spec = importlib.util.find_spec(name + ".__main__")
    except (ImportError, ValueError):
        return None
    return spec.origin if spec is not None else None


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
