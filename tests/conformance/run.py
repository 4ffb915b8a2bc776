#!/usr/bin/env python3
"""Compatibility harness: CPython's own regression tests, with plain CPython and under fastpy.

Each module in modules.txt (plus modules-long.txt with --long) runs as `python -m test -v MODULE` with
plain CPython and as `bin/python -m fastpy -m test -v MODULE` with every threshold at its minimum. A
module passes when every test that passes on plain CPython passes under fastpy too and the fastpy process
did not crash or time out. Tests that fail on plain CPython too are listed, not counted against fastpy.
The last line printed is `N passed, N failed` (modules); the exit status is 1 if any module failed.
"""
import argparse
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
MIN_THRESHOLDS = {"FASTPY_HOT_LOOP": "1", "FASTPY_HOT_EXIT": "1", "FASTPY_HOT_FUNC": "1", "FASTPY_LLVM_HOT": "1", "FASTPY_HOOK_LIFT": "1"}
START_RE = re.compile(r"^(test\w*) \(([\w.]+)\)(?:\n[^\n]*?)? \.\.\. ", re.M)
FAILED_RE = re.compile(r"^(?:FAIL|ERROR|UNEXPECTED SUCCESS): (test\w*) \(([\w.]+)\)", re.M)
STATS_RE = re.compile(r"^fastpy stats: (\{.*\})$", re.M)   # FASTPY_LOG=stats, printed at exit


def read_modules(name):
    with open(os.path.join(HERE, name)) as f:
        return [line.split("#")[0].strip() for line in f if line.split("#")[0].strip()]


def parse_results(output):
    """{test id: ok|skip|fail} from unittest's verbose output: every started test is ok unless it was
    skipped on its own line or is named in a FAIL/ERROR block of the summary (tests may print between
    `...` and their verdict, so verdict words are not searched for)."""
    results = {}
    for m in START_RE.finditer(output):
        rest = output[m.end():output.find("\n", m.end())]
        results[m.group(2)] = "skip" if rest.startswith("skipped") else \
            "fail" if rest.startswith("unexpected success") else "ok"
    for m in FAILED_RE.finditer(output):
        results[m.group(2)] = "fail"
    return results


def run_module(cmd, module, env, timeout):
    with tempfile.TemporaryDirectory(prefix="fastpy-conf-") as cwd:
        start = time.perf_counter()
        try:
            p = subprocess.run(cmd + ["-m", "test", "-v", module], cwd=cwd, env=env, timeout=timeout,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
                               stdin=subprocess.DEVNULL)
            rc, out = p.returncode, p.stdout
        except subprocess.TimeoutExpired as e:
            rc, out = "TIMEOUT", (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        return {"rc": rc, "out": out, "time": time.perf_counter() - start, "results": parse_results(out)}


def rerun_flaky(cmd, module, env, timeout, tests, tries=2):
    """Tests that failed under fastpy only, rerun alone (like regrtest's --rerun): those that pass in one
    of `tries` reruns are timing-dependent (e.g. test_signal's stress tests on a loaded 2-core machine)."""
    flaky = []
    for test in tests[:5]:
        for _ in range(tries):
            with tempfile.TemporaryDirectory(prefix="fastpy-conf-") as cwd:
                try:
                    p = subprocess.run(cmd + ["-m", "test", "-v", module, "-m", test], cwd=cwd, env=env,
                                       timeout=timeout, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                       text=True, errors="replace", stdin=subprocess.DEVNULL)
                except subprocess.TimeoutExpired:
                    continue
            if p.returncode == 0 and parse_results(p.stdout).get(test) == "ok":
                flaky.append(test)
                break
    return flaky


def judge(module, plain, fast):
    """Returns (passed, problems, plain_failures, tests that failed under fastpy only)."""
    problems, fast_only = [], []
    if fast["rc"] == "TIMEOUT":
        problems.append("TIMEOUT")
    elif fast["rc"] < 0 or fast["rc"] > 2:
        problems.append(f"fastpy process died or errored (exit status {fast['rc']})")
    plain_fail = sorted(t for t, r in plain["results"].items() if r == "fail")
    for test, result in sorted(plain["results"].items()):
        got = fast["results"].get(test, "missing")
        if result == "ok" and got != "ok":
            problems.append(f"{test}: {got} under fastpy, ok on plain CPython")
            if got == "fail":
                fast_only.append(test)
    if plain["rc"] == 0 and fast["rc"] != 0 and not problems:
        problems.append(f"fastpy exit status {fast['rc']}, plain CPython 0")
    # Doctest-only modules print no per-test lines: their verdict is the exit status (checked above).
    return not problems, problems, plain_fail, fast_only


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-j", type=int, default=2, help="processes at once (default 2)")
    ap.add_argument("--python", default="/usr/bin/python3", help="plain CPython")
    ap.add_argument("--fastpy-cmd", default=os.path.join(REPO, "bin", "python") + " -m fastpy")
    ap.add_argument("--env", action="append", default=[], metavar="K=V", help="extra env for the fastpy runs")
    ap.add_argument("--only", help="comma-separated modules")
    ap.add_argument("--long", action="store_true", help="also run modules-long.txt")
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--quiet", action="store_true", help="print failures and the summary only")
    ap.add_argument("--keep-logs", metavar="DIR", help="write each run's output here")
    args = ap.parse_args()

    modules = args.only.split(",") if args.only else read_modules("modules.txt")
    if args.long and not args.only:
        modules += read_modules("modules-long.txt")
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("FASTPY_") or k == "FASTPY_BUILD_DIR"}
    base_env["PYTHONHASHSEED"] = "0"
    fast_env = dict(base_env, **MIN_THRESHOLDS, **dict(kv.split("=", 1) for kv in args.env))
    # With a tier that runs traces (the IR executor, or the baseline tier: the default tiers include it), the
    # harness also proves that traces really ran: every fastpy process prints its stats at exit, and the run
    # fails if no trace was executed across all modules.
    # The tiers the fastpy processes will have: asked of fastpy itself (its parameter table has the default).
    plain_cmd, fast_cmd = args.python.split(), args.fastpy_cmd.split()
    launcher = fast_cmd[:-2] if fast_cmd[-2:] == ["-m", "fastpy"] else fast_cmd
    tiers = subprocess.run(launcher + ["-c", "import fastpy; print(fastpy.config()['tiers'])"], env=fast_env,
                           capture_output=True, text=True, check=True).stdout.strip().split(",")
    runs_key = "trace_native_runs" if "baseline" in tiers else "trace_ir_runs"
    require_traces = "ir" in tiers or "baseline" in tiers
    if require_traces:
        fast_env["FASTPY_LOG"] = ",".join(filter(None, [fast_env.get("FASTPY_LOG", ""), "stats"]))
    totals = {"traces_recorded": 0, "traces_compiled": 0, "side_traces": 0, runs_key: 0, "trace_exits": 0,
              "traces_aborted": 0}
    print(f"conformance: {len(modules)} modules; fastpy: {' '.join(fast_cmd)} with "
          + " ".join(f"{k}={v}" for k, v in sorted(fast_env.items()) if k.startswith("FASTPY_")), flush=True)

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.j)) as pool:
        jobs = {(m, kind): pool.submit(run_module, cmd, m, env, args.timeout)
                for m in modules for kind, cmd, env in (("plain", plain_cmd, base_env), ("fast", fast_cmd, fast_env))}
        passed = failed = 0
        plain_failures, flaky = {}, {}
        for m in modules:
            plain, fast = jobs[(m, "plain")].result(), jobs[(m, "fast")].result()
            for s in STATS_RE.findall(fast["out"]):
                st = json.loads(s)
                for k in totals:
                    totals[k] += st.get(k, 0)
            ok, problems, plain_fail, fast_only = judge(m, plain, fast)
            if fast_only and len(fast_only) == len(problems):  # only test failures: rerun them alone
                again = rerun_flaky(fast_cmd, m, fast_env, args.timeout, fast_only)
                if again:
                    flaky[m] = again
                    problems = [p for p in problems if p.split(":")[0] not in again]
                    ok = not problems
            if plain_fail:
                plain_failures[m] = plain_fail
            passed, failed = passed + ok, failed + (not ok)
            if args.keep_logs:
                os.makedirs(args.keep_logs, exist_ok=True)
                for kind, r in (("plain", plain), ("fastpy", fast)):
                    with open(os.path.join(args.keep_logs, f"{m}.{kind}.log"), "w") as f:
                        f.write(r["out"])
            if not ok or not args.quiet:
                print(f"{'PASS' if ok else 'FAIL'}  {m:24} plain: {plain['time']:5.1f}s  fastpy: "
                      f"{fast['time']:5.1f}s  [{len(plain['results'])} tests]", flush=True)
            if not ok:
                for p in problems[:20]:
                    print("      " + p)
                print("      --- last lines of the fastpy run:")
                for line in fast["out"].splitlines()[-30:]:
                    print("      | " + line)
    if plain_failures:
        print("Failing on plain CPython too (not counted against fastpy):")
        for m, tests in plain_failures.items():
            print(f"  {m}: {', '.join(tests)}")
    if flaky:
        print("Failed once under fastpy, passed when rerun alone (timing-dependent; check if it recurs):")
        for m, tests in flaky.items():
            print(f"  {m}: {', '.join(tests)}")
    if require_traces:
        print("traces (all fastpy processes): " + ", ".join(f"{k} {v}" for k, v in totals.items()))
        if totals[runs_key] == 0:
            print(f"FAIL  no trace was run ({runs_key} is 0 in every process; FASTPY_TIERS={','.join(tiers)})")
            failed += 1
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
