"""Runs a few programs with plain CPython and with `python -m fastpy`, showing both outputs and times."""
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROGRAMS = ["bench/nbody.py", "bench/mandelbrot.py", "bench/fib.py", "bench/richards.py"]


def timed(argv):
    start = time.perf_counter()
    out = subprocess.run(argv, capture_output=True, text=True)
    return out, time.perf_counter() - start


def oneline(text):
    return " / ".join(line for line in text.splitlines() if line)


def main():
    python = sys.executable
    same_everywhere = True
    for rel in PROGRAMS:
        prog = os.path.join(HERE, rel)
        plain, t_plain = timed([python, prog])
        fast, t_fast = timed([os.path.join(HERE, "bin", "python"), "-m", "fastpy", prog])
        same = (plain.stdout, plain.returncode) == (fast.stdout, fast.returncode)
        same_everywhere &= same
        print(f"== {rel}")
        print(f"   CPython  {t_plain:6.2f} s  | {oneline(plain.stdout)}")
        print(f"   fastpy   {t_fast:6.2f} s  | {oneline(fast.stdout)}")
        print(f"   same output: {'yes' if same else 'NO'}   speedup: {t_plain / t_fast:.2f}x")
    return 0 if same_everywhere else 1


if __name__ == "__main__":
    sys.exit(main())
