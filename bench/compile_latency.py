#!/usr/bin/env python3
"""Compile latency of the baseline tier in real programs: every trace (loop traces and side traces) that the
bench/ programs compile, timed inside the process as it runs (compile_trace's own clock: IR -> machine code,
the optimizer not included), cold caches and all. build/bench/micro/fastpy_compile_bench measures the same
code generator warm, on the golden traces.

    bench/compile_latency.py [--scale N] [--cpu K] [--filter NAME]

Prints, per program, how many traces it compiled and the median, 90th percentile and largest compile time,
then the median over all of them (the issue's target: < 200 us)."""
import argparse
import json
import os
import runpy
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

# Runs the program in whole-program mode, as `python -m fastpy prog scale` does; prints the compile times at exit.
WRAPPER = r"""
import atexit, json, runpy, sys
import fastpy
from fastpy import _fastpy
atexit.register(lambda: print("COMPILE_US " + json.dumps(_fastpy.baseline_info()["compile_us"]), file=sys.stderr))
sys.argv = sys.argv[1:]
fastpy.enable()
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=int, default=1)
    ap.add_argument("--cpu", type=int, help="pin to this CPU (taskset)")
    ap.add_argument("--filter", default="", help="only programs whose name contains this")
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--build", default=os.path.join(REPO, "build"))
    args = ap.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FASTPY_")}
    env["PYTHONPATH"] = os.path.join(args.build, "python")
    pin = ["taskset", "-c", str(args.cpu)] if args.cpu is not None else []
    every = []
    print(f"{'program':<16} {'traces':>6} {'median us':>10} {'p90 us':>8} {'max us':>8}")
    programs = runpy.run_path(os.path.join(HERE, "run"), run_name="bench_run")["programs"]   # bench/run's list
    for name, _category, path in programs(args.filter):
        p = subprocess.run(pin + [args.python, "-c", WRAPPER, path, str(args.scale)], env=env,
                           capture_output=True, text=True)
        line = [l for l in p.stderr.splitlines() if l.startswith("COMPILE_US ")]
        if p.returncode != 0 or not line:
            sys.exit(f"{name} failed:\n{p.stderr}")
        us = sorted(json.loads(line[-1][len("COMPILE_US "):]))
        every += us
        if us:
            p90 = us[min(len(us) - 1, int(0.9 * len(us)))]
            print(f"{name:<16} {len(us):>6} {statistics.median(us):>10.1f} {p90:>8.1f} {us[-1]:>8.1f}")
        else:
            print(f"{name:<16} {0:>6}")
    if every:
        print(f"{'all':<16} {len(every):>6} {statistics.median(every):>10.1f}")


if __name__ == "__main__":
    main()
