"""Shared helpers: run code with plain CPython and under fastpy, in subprocesses, and compare."""
import os
import signal
import subprocess
import sys
import textwrap

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("FASTPY_BUILD_DIR", os.path.join(REPO, "build"))
LAUNCHER = os.path.join(REPO, "bin", "python")
FASTPY_COMMAND = os.path.join(BUILD, "fastpy")   # the `fastpy` command (python/fastpy_launcher.in)
PYTHON = open(os.path.join(BUILD, "python-executable")).read().strip()
sys.path.insert(0, os.path.join(BUILD, "python"))
sys.path.insert(0, os.path.join(BUILD, "tests", "python"))


# The suite runs once per executor mode (scripts/test.sh sets FASTPY_TIERS, e.g. "interp"); subprocesses
# inherit that mode and nothing else of the caller's FASTPY_* settings.
KEPT_ENV = ("FASTPY_BUILD_DIR", "FASTPY_TIERS")


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FASTPY_") or k in KEPT_ENV}
    env.update(extra)
    return env


def _sigint_default():
    # A suite started in the background of a shell without job control (`( ./scripts/test.sh & )`) inherits
    # SIGINT ignored, and Python then installs no KeyboardInterrupt handler: the programs that interrupt
    # themselves (_thread.interrupt_main) would spin until the timeout. Each program gets the default back.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run(argv, env=None, cwd=None, timeout=120, stdin=None):
    return subprocess.run(argv, capture_output=True, text=True, env=env or clean_env(), cwd=cwd,
                          timeout=timeout, input=stdin, preexec_fn=_sigint_default)


def write(tmp_path, name, source):
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


def run_both(tmp_path, source, args=(), env=None, name="prog.py", command=(LAUNCHER, "-m", "fastpy")):
    """Runs `python prog.py args` and `bin/python -m fastpy prog.py args` (or another fastpy command: the
    `fastpy` one); returns both results."""
    path = write(tmp_path, name, source)
    plain = run([PYTHON, name, *args], cwd=tmp_path, env=clean_env(**(env or {})))
    fast = run([*command, name, *args], cwd=tmp_path, env=clean_env(**(env or {})))
    return plain, fast


def assert_same(plain, fast):
    assert fast.returncode == plain.returncode, (plain.stderr, fast.stderr)
    assert fast.stdout == plain.stdout
    assert fast.stderr == plain.stderr


@pytest.fixture
def fastpy_mod():
    import fastpy
    yield fastpy
    fastpy.disable()


def stats_delta(fastpy, fn):
    """The change of every counter in fastpy.stats() while fn() runs (handovers: per opcode; aborts: per
    reason)."""
    before = fastpy.stats()
    fn()
    after = fastpy.stats()
    per_key = ("handovers", "aborts")
    d = {k: after[k] - before[k] for k in after if k not in per_key}
    for key in per_key:
        d[key] = {k: n - before[key].get(k, 0) for k, n in after[key].items() if n != before[key].get(k, 0)}
    return d
