"""The fastpy interpreter against CPython's own evaluator, in one process: each bench/ program's main()
runs with the hook off and under fastpy.enabled() with FASTPY_TIERS=interp, alternating, and the best of N
times is kept (best-of is robust against a noisy machine, where bench/run's whole-process medians are not).
Start-up and `import fastpy` are excluded. Run after the build: bin/python bench/interp_cost.py [N]
"""
import contextlib
import glob
import importlib.util
import math
import os
import re
import sys
import time

import fastpy

HERE = os.path.dirname(os.path.abspath(__file__))


def load(path):
    spec = importlib.util.spec_from_file_location(os.path.basename(path)[:-3], path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def timed(main):
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        start = time.perf_counter()
        main(1)
        return time.perf_counter() - start


def main():
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    fastpy.config(tiers="interp")
    rows = []
    for path in sorted(glob.glob(os.path.join(HERE, "*.py"))):
        m = re.search(r'^CATEGORY = "(\w+)"', open(path).read(), re.M)
        if not m:
            continue
        mod = load(path)
        plain, interp = [], []
        for _ in range(reps):
            plain.append(timed(mod.main))
            with fastpy.enabled():
                interp.append(timed(mod.main))
        rows.append((mod.__name__, m.group(1), min(plain), min(interp)))
        print(f"{mod.__name__:15} {m.group(1):8} CPython {min(plain):6.3f} s   interp {min(interp):6.3f} s   "
              f"interp/CPython {min(interp) / min(plain):5.2f}x", flush=True)
    ratios = [i / p for _, _, p, i in rows]
    print(f"geomean interp/CPython time: {math.exp(sum(map(math.log, ratios)) / len(ratios)):.2f}x")
    numeric = [i / p for _, c, p, i in rows if c == "numeric"]
    print(f"geomean numeric:             {math.exp(sum(map(math.log, numeric)) / len(numeric)):.2f}x")


if __name__ == "__main__":
    main()
