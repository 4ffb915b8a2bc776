"""Per-call cost of fastpy's hook against a hook that only delegates (tests/python/chain_hook.c) and no hook;
"fastpy, no lift" with FASTPY_HOOK_LIFT=0 (every call through the hook), "fastpy" as it runs by default.
Run after the build: bin/python bench/hook_cost.py   (best of 7 runs, in one process)."""
import os
import sys
import time

BUILD = os.environ.get("FASTPY_BUILD_DIR", os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "build"))
sys.path.insert(0, os.path.join(BUILD, "tests", "python"))
import _chain_hook  # noqa: E402
import fastpy  # noqa: E402


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def leaf(x):
    return x


def calls():
    for i in range(1000000):
        leaf(i)


def best(f, *a):
    times = []
    for _ in range(7):
        s = time.perf_counter()
        f(*a)
        times.append(time.perf_counter() - s)
    return min(times)


def main():
    base = None
    for name, on, off in [("none", lambda: None, lambda: None),
                          ("minimal C hook", _chain_hook.install, _chain_hook.uninstall),
                          ("fastpy, no lift", lambda: (fastpy.config(hook_lift=0), fastpy.enable()),
                           lambda: (fastpy.disable(), fastpy.config(hook_lift=200))),
                          ("fastpy", fastpy.enable, fastpy.disable),
                          ("none, again", lambda: None, lambda: None)]:   # the first row runs cold
        on()
        r = (best(fib, 25), best(calls))
        off()
        base = base or r
        print(f"{name:15} fib(25) {r[0] * 1e3:6.1f} ms ({r[0] / base[0]:.2f}x)   "
              f"1M calls {r[1] * 1e3:6.1f} ms ({r[1] / base[1]:.2f}x)")


if __name__ == "__main__":
    main()
