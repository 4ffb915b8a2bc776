"""`python -m fastpy script.py args` and the `fastpy script.py args` command behave exactly like
`python script.py args`."""
import os
import signal

import pytest

from conftest import FASTPY_COMMAND, LAUNCHER, PYTHON, assert_same, clean_env, run, run_both, write


@pytest.fixture(params=["python-m-fastpy", "fastpy-command"])
def fastpy_cmd(request):
    """Each test of the launcher runs with both ways to start a program under fastpy."""
    return [LAUNCHER, "-m", "fastpy"] if request.param == "python-m-fastpy" else [FASTPY_COMMAND]

PROGRAM = """
import sys
print(sys.argv, __name__, __file__, __spec__ and __spec__.name, __package__, __cached__)
print(sys.path[0])
import __main__
print(__main__.__dict__ is globals(), type(__loader__).__name__)
def work(n):
    total = 0
    for i in range(n):
        total += i * i
    return total
if __name__ == "__main__":
    print(work(1000))
"""


def test_argv_main_and_output_identical(tmp_path, fastpy_cmd):
    assert_same(*run_both(tmp_path, PROGRAM, args=["a", "--flag", "b c"], command=fastpy_cmd))


def test_whole_program_mode_is_on_inside_the_script(tmp_path):
    plain, fast = run_both(tmp_path, "import fastpy, sys\nprint(fastpy.is_enabled(), fastpy.stats()['frames_seen'] > 0)\n",
                           env={"PYTHONPATH": str(tmp_path)})
    assert fast.stdout == "True True\n", fast.stderr


def test_exit_codes(tmp_path, fastpy_cmd):
    for body in ["import sys; sys.exit(3)", "raise SystemExit('bye')", "pass", "import os; os._exit(7)"]:
        assert_same(*run_both(tmp_path, body, command=fastpy_cmd))


def test_uncaught_exception_traceback_identical(tmp_path, fastpy_cmd):
    source = """
    def inner(x):
        return 1 / x
    def outer():
        try:
            inner(0)
        except ZeroDivisionError as e:
            raise ValueError("wrapped") from e
    outer()
    """
    plain, fast = run_both(tmp_path, source, command=fastpy_cmd)
    assert plain.returncode == 1
    assert "fastpy" not in fast.stderr and "runpy" not in fast.stderr
    assert_same(plain, fast)


def test_syntax_error_identical(tmp_path, fastpy_cmd):
    # No traceback at all (the launcher's frames were shown once): the whole stderr is CPython's.
    plain, fast = run_both(tmp_path, "x = (\n", command=fastpy_cmd)
    assert fast.returncode == plain.returncode == 1
    assert_same(plain, fast)
    plain = run([PYTHON, "-c", "1 +"])
    fast = run([*fastpy_cmd, "-c", "1 +"])
    assert plain.returncode == 1 and "Traceback" not in plain.stderr
    assert_same(plain, fast)


def run_bytes(tmp_path, source, fastpy_cmd):
    (tmp_path / "prog.py").write_bytes(source)
    return (run([PYTHON, "prog.py"], cwd=tmp_path), run([*fastpy_cmd, "prog.py"], cwd=tmp_path))


def test_script_bytes_read_as_cpython_reads_a_file(tmp_path, fastpy_cmd):
    # The file tokenizer, as `python script.py` (python/module.cpp, run_file): a coding cookie, a BOM, and
    # 3.11's handling of a NUL byte, where compile() of the bytes would raise ValueError instead.
    for source in [b"# -*- coding: latin-1 -*-\nprint('caf\xe9', len('\xe9'))\n",
                   b"\xef\xbb\xbfprint('bom', __doc__)\n",
                   b"a = 1\0\nprint('after nul')\n",
                   b"print(1)\nb = 2\0 (\nprint(b)\n",
                   b"# -*- coding: ascii -*-\nprint('\xe9')\n"]:
        plain, fast = run_bytes(tmp_path, source, fastpy_cmd)
        assert_same(plain, fast)


def test_keyboard_interrupt_dies_of_sigint(tmp_path, fastpy_cmd):
    plain, fast = run_both(tmp_path, "raise KeyboardInterrupt\n", command=fastpy_cmd)
    assert plain.returncode == -signal.SIGINT
    assert_same(plain, fast)


def test_dash_m_and_dash_c(tmp_path, fastpy_cmd):
    write(tmp_path, "mymod.py", PROGRAM)
    env = clean_env(PYTHONPATH=str(tmp_path))
    plain = run([PYTHON, "-m", "mymod", "x"], env=env, cwd=tmp_path)
    fast = run([*fastpy_cmd, "-m", "mymod", "x"], env=env, cwd=tmp_path)
    assert fast.returncode == 0, fast.stderr
    assert fast.stdout.splitlines()[:2] == plain.stdout.splitlines()[:2]   # argv, __main__, sys.path[0]
    assert fast.stdout.splitlines()[-1] == plain.stdout.splitlines()[-1]
    code = "import sys; print(sys.argv, __name__, repr(sys.path[0])); 1/0"
    plain = run([PYTHON, "-c", code, "q"])
    fast = run([*fastpy_cmd, "-c", code, "q"])
    assert_same(plain, fast)


def test_missing_script_and_bad_option(tmp_path, fastpy_cmd):
    fast = run([*fastpy_cmd, "nope.py"], cwd=tmp_path)
    plain = run([PYTHON, "nope.py"], cwd=tmp_path)
    assert fast.returncode == plain.returncode == 2
    assert "No such file or directory" in fast.stderr
    fast = run([*fastpy_cmd, "--bogus"])
    assert fast.returncode == 2 and "unknown option '--bogus'" in fast.stderr


def test_help(tmp_path, fastpy_cmd):
    out = run([*fastpy_cmd, "--help"])
    assert out.returncode == 0 and "usage: python -m fastpy" in out.stdout
    assert run(fastpy_cmd).returncode == 2


def test_the_fastpy_command_starts_without_runpy(tmp_path):
    """What the `fastpy` command is for: `python -m` imports runpy and its imports (~4 ms) before any
    program runs; `fastpy script.py` imports no more of the standard library than `python script.py`."""
    source = "import sys\nprint(sorted(m for m in ('runpy', 'importlib.util', 'contextlib', 'types') if m in sys.modules))\n"
    plain, fast = run_both(tmp_path, source, command=[FASTPY_COMMAND])
    assert_same(plain, fast)
    assert "runpy" not in plain.stdout
    plain, fast = run_both(tmp_path, source)
    assert "runpy" in fast.stdout   # `python -m fastpy` cannot avoid it


def test_the_fastpy_command_reports_a_bad_parameter(tmp_path, fastpy_cmd):
    write(tmp_path, "p.py", "print('ran')\n")
    out = run([*fastpy_cmd, "p.py"], cwd=tmp_path, env=clean_env(FASTPY_HOT_LOOP="lots"))
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.startswith("fastpy: error: FASTPY_HOT_LOOP='lots' is not valid") and out.stderr.count("\n") == 1


@pytest.mark.parametrize("kind", ["script", "-c", "-m"])
def test_safe_path_leaves_sys_path_alone(tmp_path, fastpy_cmd, kind):
    """Under -P (PYTHONSAFEPATH=1 here, which the fastpy command's interpreter reads too) python prepends no
    folder to sys.path; fastpy must not overwrite its first entry (the standard library's) either."""
    code = "import sys; print(repr(sys.path[0]))"
    (tmp_path / "lib").mkdir()
    write(tmp_path / "lib", "mymod.py", code + "\n")
    write(tmp_path, "p.py", code + "\n")
    env = clean_env(PYTHONSAFEPATH="1", PYTHONPATH=str(tmp_path / "lib"))
    args = {"script": ["p.py"], "-c": ["-c", code], "-m": ["-m", "mymod"]}[kind]
    plain = run([PYTHON, *args], env=env, cwd=tmp_path)
    fast = run([*fastpy_cmd, *args], env=env, cwd=tmp_path)
    assert plain.stdout == repr(str(tmp_path / "lib")) + "\n", plain.stderr   # nothing put before it
    # (bin/python puts the build's package first on PYTHONPATH; the command puts it second, after sys.path[0])
    from conftest import BUILD
    first = os.path.join(BUILD, "python") if fastpy_cmd[0] == LAUNCHER else str(tmp_path / "lib")
    assert fast.returncode == 0, fast.stderr
    assert fast.stdout == repr(first) + "\n"


def test_the_installed_command_runs_a_program(tmp_path):
    """`cmake --install` (into a DESTDIR here) puts the package and the `fastpy` command, without the build
    tree's sys.path line, where the build's cache says; with the package's directory on sys.path the
    installed command runs a program as the build's does."""
    import re
    from conftest import BUILD
    cache = open(os.path.join(BUILD, "CMakeCache.txt")).read()
    dirs = {k: re.search(rf"^{k}:PATH=(.*)$", cache, re.M).group(1) for k in ("FASTPY_INSTALL_DIR", "FASTPY_SCRIPTS_DIR")}
    dest = tmp_path / "dest"
    out = run(["cmake", "--install", BUILD], env=clean_env(DESTDIR=str(dest)))
    assert out.returncode == 0, out.stderr
    command = str(dest) + os.path.join(dirs["FASTPY_SCRIPTS_DIR"], "fastpy")
    text = open(command).read()
    assert text.startswith("#!" + PYTHON + "\n") and BUILD not in text
    write(tmp_path, "p.py", "import fastpy, sys\nprint(fastpy.is_enabled(), fastpy.__file__.startswith(sys.argv[1]))\n")
    out = run([command, "p.py", str(dest)], cwd=tmp_path,
              env=clean_env(PYTHONPATH=str(dest) + dirs["FASTPY_INSTALL_DIR"]))
    assert out.returncode == 0, out.stderr
    assert out.stdout == "True True\n"


def test_launcher_runs_from_any_directory(tmp_path):
    write(tmp_path, "p.py", "import fastpy, sys; print(fastpy.is_enabled(), sys.executable)\n")
    out = run([LAUNCHER, "p.py"], cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[0] == "False"    # importable, not enabled
    assert out.stdout.split()[1] == PYTHON


def test_the_build_byte_compiles_the_package():
    """python/CMakeLists.txt compiles fastpy's modules into __pycache__ (start-up would otherwise compile
    __init__.py and __main__.py at every `python -m fastpy` where bytecode is not written): each .pyc is
    there and matches its source, as the import system checks it."""
    import glob
    import importlib.util
    from conftest import BUILD
    sources = glob.glob(os.path.join(BUILD, "python", "fastpy", "*.py"))
    assert sources
    for src in sources:
        pyc = importlib.util.cache_from_source(src)
        assert os.path.exists(pyc), pyc
        with open(pyc, "rb") as f:
            header = f.read(16)
        st = os.stat(src)
        assert int.from_bytes(header[8:12], "little") == int(st.st_mtime) & 0xFFFFFFFF, src
        assert int.from_bytes(header[12:16], "little") == st.st_size & 0xFFFFFFFF, src
