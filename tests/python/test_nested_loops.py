"""Nested loops in the baseline tier: the innermost loop is traced, and side traces from its exits follow the
interpreter out of it, through the rest of the enclosing loops' bodies (their next iteration, a new
`range(...)` iterator for the inner loop: range_iter, owned by the trace) and back to the inner loop's header,
where the inner trace takes over again. Side traces of side traces continue from their own exits (an
enclosing loop ending), so a whole loop nest runs as one trace tree and the interpreter enters it about once
per call.

Each program runs through test_trace_guards' harness (plain CPython and fastpy on two copies of the source;
results or tracebacks, refcounts and allocated-block growth compared) in the baseline tier (side traces are
machine code only), with FASTPY_HOT_EXIT low enough for the side traces to be recorded. What proves the tree
ran: side traces were attached and ran, and the interpreter entered the inner loop's trace (trace_entries)
far fewer times than the outer loops iterated.
"""
import json
import textwrap

import pytest

import test_trace_guards as tg
from conftest import FASTPY_COMMAND, LAUNCHER, clean_env, run

ENV = dict(FASTPY_HOT_EXIT="3")


@pytest.fixture(autouse=True)
def baseline_tier():
    tg._tier["now"] = "baseline"
    yield
    tg._tier["now"] = "ir"


def run_prog(tmp_path, source, names, **env):
    return tg.run_prog(tmp_path, source, names, **{**ENV, **env})


def tree_ran(res, outer_iterations, min_side=1):
    st = res["stats"]
    assert st["side_traces"] >= min_side and st["side_trace_runs"] >= outer_iterations // 2, st
    # Without the tree every outer iteration enters the inner trace from the interpreter.
    assert st["trace_entries"] * 10 < outer_iterations, st


def test_while_inside_for_runs_as_one_tree(tmp_path):
    # mandelbrot's shape: a while loop with two exits (its condition's two halves) inside two for loops.
    res = run_prog(tmp_path, """
        def escape(size, max_iter):
            total = 0
            for y in range(size):
                ci = 2.0 * y / size - 1.0
                for x in range(size):
                    cr = 2.0 * x / size - 1.5
                    zr = zi = 0.0
                    i = 0
                    while i < max_iter and zr * zr + zi * zi <= 4.0:
                        zr, zi = zr * zr - zi * zi + cr, 2.0 * zr * zi + ci
                        i += 1
                    total += i
            return total

        def main():
            return [escape(30, 40) for _ in range(3)]
    """, ["escape"])
    tg.check(res, traced=["escape"])
    tree_ran(res, 3 * 30 * 30, min_side=2)


def test_for_range_inside_for_makes_the_inner_iterator_in_the_trace(tmp_path):
    # n-body's shape: the inner range starts after the outer index, so the last outer iteration has an
    # empty inner loop (the trace makes the iterator and the inner trace finds it exhausted at once).
    res = run_prog(tmp_path, """
        def pairs(a):
            n = len(a)
            s = 0.0
            for i in range(n):
                x = a[i]
                for j in range(i + 1, n):
                    s += x * a[j]
            return s

        def main():
            a = [0.5 * k for k in range(12)]
            return [pairs(a) for _ in range(40)]
    """, ["pairs"])
    tg.check(res, traced=["pairs"])
    tree_ran(res, 40 * 12)


def test_three_loops_deep_is_a_tree_of_side_traces(tmp_path):
    # The innermost loop's end continues with the middle loop's next iteration (a side trace); the middle
    # loop's end, inside that side trace, with the outer loop's (a side trace of the side trace), each
    # called from its parent's exit in machine code.
    res = run_prog(tmp_path, """
        def cube(n, steps):
            acc = 0
            for s in range(steps):
                for i in range(n):
                    for j in range(0, n, 2):
                        acc += i * j + s
            return acc

        def main():
            return [cube(6, 30) for _ in range(3)]
    """, ["cube"])
    tg.check(res, traced=["cube"])
    tree_ran(res, 3 * 30 * 6, min_side=2)
    # The exits call their side traces in machine code (side_links: no C++ between a parent's exit and its
    # side trace, the runs and exits counted as if the C++ had walked the tree): every run after the first
    # few (recorded, then compiled) came through a link.
    st = res["stats"]
    assert st["side_links"] >= st["side_trace_runs"] * 9 // 10, st
    loops = [l for l in tg.loops_of(res, "cube") if l["traced"]]
    assert any(sum(l["side_traces"].values()) >= 3 * 30 * 6 // 2 for l in loops), loops


def test_inner_range_beyond_a_range_iterator_exits_to_the_interpreter(tmp_path):
    # range(lo, 2**63 - 2, 3) needs CPython's longrange_iterator: the trace's range_iter gives up (its guard
    # exits) and the interpreter makes that iterator; the other rows stay in the tree. (The inner trace, which
    # expects a range_iterator, then exits at each of that row's two back-edges: fewer than FASTPY_HOT_EXIT
    # in a row, so it is kept.)
    res = run_prog(tmp_path, """
        def rows(n):
            c = 0
            for k in range(n):
                hi = 2**63 - 2 if k % 7 == 3 else 2**63 - 3
                for j in range(hi - 6, hi, 3):
                    c += 1
            return c

        def main():
            return [rows(60) for _ in range(3)]
    """, ["rows"])
    tg.check(res, traced=["rows"])
    assert res["stats"]["side_trace_runs"] >= 60, res["stats"]


def test_a_type_change_in_the_outer_body_exits_the_side_trace(tmp_path):
    # Halfway the outer body computes a float where it had an int: the side trace's guards exit there and
    # the program goes on exactly as on CPython (the inner trace, specialized on ints, is dropped and recorded
    # again for floats, with a side trace of its own).
    res = run_prog(tmp_path, """
        def drift(n, m):
            t = 0
            for k in range(n):
                step = 1 if k < n // 2 else 1.5
                for j in range(m):
                    t += step
            return t

        def main():
            return drift(200, 5)
    """, ["drift"])
    tg.check(res, traced=["drift"])
    st = res["stats"]
    assert st["traces_discarded"] == 1 and st["traces_recorded"] == 2 and st["side_traces"] >= 2, st


def test_an_exception_in_the_outer_body_has_cpythons_traceback(tmp_path):
    res = run_prog(tmp_path, """
        def table(n, m, stop):
            t = 0
            for k in range(n):
                d = 10 // (stop - k)
                for j in range(m):
                    t += d + j
            return t

        def main():
            return [table(20, 4, 25), table(30, 4, 25)]
    """, ["table"])
    tg.check(res, traced=["table"])
    assert "ZeroDivisionError" in res["fast"][1] and res["stats"]["side_trace_runs"] >= 10, res


def test_the_owned_inner_iterator_survives_exits_at_the_poll(tmp_path):
    # Another thread asks for the GIL all the time: compiled code exits at its eval-breaker polls, among them
    # the side trace's last one, whose snapshot hands the range iterator the trace made to the frame. The
    # result is exact and nothing leaks (allocated blocks over repeated batches).
    prog = tmp_path / "prog.py"
    prog.write_text(textwrap.dedent("""
        import gc, json, sys, threading
        import fastpy

        @fastpy.jit
        def pairs(n, m):
            c = 0
            for i in range(n):
                for j in range(i % m, m):
                    c += j
            return c

        want = sum(sum(range(i % 9, 9)) for i in range(3000))
        stop = []
        def spin():
            x = 0
            while not stop:
                x += 1
        sys.setswitchinterval(1e-6)
        t = threading.Thread(target=spin)
        t.start()
        ok = True
        growth = []
        for batch in range(4):
            gc.collect()
            before = sys.getallocatedblocks()
            for _ in range(20):
                ok = ok and pairs(3000, 9) == want
            gc.collect()
            growth.append(sys.getallocatedblocks() - before)
        stop.append(1)
        t.join()
        print(json.dumps(dict(ok=ok, growth=growth, stats=fastpy.stats())))
    """))
    r = run([LAUNCHER, str(prog)], env=clean_env(FASTPY_TIERS="interp,baseline", FASTPY_HOT_EXIT="3"),
            cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout.strip().splitlines()[-1])
    st = res["stats"]
    assert res["ok"], res
    assert st["side_trace_runs"] >= 1000 and st["trace_exits"] >= 100, st
    # A leaked iterator per exit would leave hundreds of blocks per batch.
    assert max(res["growth"][1:]) < 60, res["growth"]


def test_consecutive_loops_of_an_outer_body_hand_over_to_each_other(tmp_path):
    # n-body's advance(): per step a pair loop nest, then a loop over the list of bodies (iter() of a list made
    # in the trace: seq_iter). The side trace that leaves one ends at the other's header and that loop's trace
    # takes over there (trace_links); the tree of each covers the step loop, so the interpreter is left out.
    res = run_prog(tmp_path, """
        def advance(bs, steps):
            n = len(bs)
            for _ in range(steps):
                for i in range(n):
                    b = bs[i]
                    for j in range(i + 1, n):
                        c = bs[j]
                        d = b[0] - c[0]
                        b[1] -= d * 0.01
                        c[1] += d * 0.01
                for b in bs:
                    b[0] += 0.1 * b[1]
            return [b[:] for b in bs]

        def main():
            bs = [[float(k), 0.5 * k] for k in range(5)]
            return [advance(bs, 40) for _ in range(3)]
    """, ["advance"])
    tg.check(res, traced=["advance"])
    st = res["stats"]
    assert st["trace_links"] >= 40 and st["side_traces"] >= 2, st
    assert st["trace_entries"] * 10 < 3 * 40 * 5, st


def test_a_hop_to_the_next_loop_checks_that_loops_namespace(tmp_path):
    # The hop from one loop's tree to the next loop's trace is made in run_loop itself (no return to
    # baseline_entry), which checks the next trace's namespace there. After SCALE is rebound the second
    # loop's trace is released and recorded again (by that check or by the trace's own version guard, which
    # stands behind it: the result is CPython's either way), and the hops go on.
    res = run_prog(tmp_path, """
        SCALE = 2

        def mix(n):
            t = 0
            for s in range(n):
                for i in range(4 + s % 3):
                    t += i
                for j in range(5):
                    t += j * SCALE
            return t

        def main():
            global SCALE
            r = [mix(300)]
            SCALE = 5
            r.append(mix(300))
            SCALE = 7
            r.append(mix(300))
            return r
    """, ["mix"])
    tg.check(res, traced=["mix"])
    st = res["stats"]
    assert st["trace_links"] >= 500 and st["traces_invalidated"] >= 2, st


def test_a_list_loop_entered_from_a_side_trace_releases_its_iterator(tmp_path):
    # The side trace makes the inner loop's list iterator (seq_iter, owned) and hands it to the inner trace;
    # when an inner list is empty the iterator it made is released in the trace itself. Lists the trace
    # iterates stay alive and unchanged (refcounts compared), nothing leaks.
    res = run_prog(tmp_path, """
        def total(rows):
            t = 0.0
            for row in rows:
                for x in row:
                    t += x
            return t

        rows = [[0.5 * k for k in range(m % 4)] for m in range(300)]

        def refcheck():
            return rows[:5]

        def main():
            return [total(rows), total(tuple(tuple(r) for r in rows))]
    """, ["total"])
    tg.check(res, traced=["total"])
    tree_ran(res, 600)


def test_list_copies_made_in_the_outer_body_are_handed_to_the_frame(tmp_path):
    # fannkuch's `perm = perm1[:]`: each outer iteration copies lists (list_slice, owned by the side trace,
    # moved into locals, handed to the frame at the inner loop's header, where the old copies are released).
    # A negative bound counts from the end: not recorded (the recording aborts), still CPython's result.
    res = run_prog(tmp_path, """
        def run(base, n):
            t = 0
            for s in range(n):
                w = base[1:]
                head = base[:3]
                i = 0
                while i < len(w):
                    t += w[i] * s
                    i += 1
                t += len(head) + head[-1]
            return t

        def tail(base, n):
            t = 0
            for s in range(n):
                w = base[-3:]
                for x in w:
                    t += x
            return t

        base = [3, 1, 4, 1, 5, 9, 2, 6]

        def refcheck():
            return [base]

        def main():
            return [run(base, 200), tail(base, 100), base]
    """, ["run", "tail"])
    tg.check(res, traced=["run", "tail"])
    st = res["stats"]
    # tail()'s inner loop is entered from the interpreter once per outer iteration (100); run()'s is not.
    assert st["side_trace_runs"] >= 150 and st["trace_entries"] < 100 + 20, st


def test_a_polymorphic_call_site_gets_a_side_trace_per_class(tmp_path):
    # richards' scheduler loop: the items of one list are of several classes, so the type guard of the method
    # call fails for every other class. That guard is a branch, not the trace's premise: each class gets a
    # side trace (no re-recording, no blacklisting), and results stay CPython's.
    res = run_prog(tmp_path, """
        class A:
            def __init__(self): self.n = 0
            def step(self, x): self.n += 1; return x + 1
        class B(A):
            def step(self, x): self.n += 2; return x * 2
        class C(A):
            def step(self, x): self.n += 3; return x - 3

        def spin(objs, rounds):
            x = 0
            for _ in range(rounds):
                for o in objs:
                    x = o.step(x) % 1000
            return x, [o.n for o in objs]

        def main():
            objs = [A(), B(), C(), B(), A()]
            return spin(objs, 300)
    """, ["spin"])
    tg.check(res, traced=["spin"])
    st = res["stats"]
    assert st["side_traces"] >= 2 and st["side_trace_runs"] >= 600 and st["traces_discarded"] == 0, st


def test_a_side_trace_restores_the_frame_in_its_own_machine_code(tmp_path):
    # Where a side trace ends (at a loop header), its machine code writes the frame itself (restore_compiled):
    # a float into the frame's own object, one-digit ints in place, small ints as CPython's cached objects
    # (`is` sees the same), bools, objects that change, and the stack's new inner iterator (owned) with the
    # old one released. The first end of each call finds u's object shared with the code's constant 300:
    # that one goes through the restore routine instead.
    res = run_prog(tmp_path, """
        def body(n, a, b):
            x = y = 0.5
            u = 300
            v = 7
            flag = False
            obj = a
            t = 0
            for k in range(n):
                for j in range(3):
                    t += j
                x = x * 0.5 + k
                u = u + 13 if u < 20000 else 300
                v = (v + 5) % 200 - 5
                flag = not flag
                obj = a if flag else b
            return x, y, u, v, flag, obj, t, v is int(str(v)), u is int(str(u))

        def main():
            return [body(60, [1], [2]) for _ in range(4)]
    """, ["body"])
    tg.check(res, traced=["body"])
    tree_ran(res, 4 * 60)
    st = res["stats"]
    assert st["restore_compiled"] >= 4 * 60 // 2, st
    assert st["trace_restores"] > st["restore_compiled"], st   # u shared with the constant at first: the routine


def test_a_side_trace_writes_small_ints_over_whatever_the_frame_held(tmp_path):
    # A small int's cached object replaces whatever the slot held (the machine code checks nothing there:
    # test_baseline_exits' CompletionRestoreIntoTheFrame). Each call's first end of the side trace finds
    # the slots as the function set them before its loops: an argument the caller still holds, None, a new
    # float (it dies in the release) and a float the caller holds; a computed small int and constants go
    # over them. CPython's results and reference counts, and every end of the side trace restored by its
    # machine code: the restore routine only ran for the tree's own exits, one per entry from the interpreter
    # (when the slots' old objects were checked, calls 2-4's first ends went to the routine: 3 more).
    res = run_prog(tmp_path, """
        import sys

        def body(n, box, x):
            a, b, c, d = box, None, x * 0.5, x
            t = 0
            for k in range(n):
                for j in range(2):
                    t += j
                a = k % 7
                b = k % 5 - 2
                c = 3
                d = -5
            return a, b, c, d, t, a is int(str(a)), b is int(str(b))

        def main():
            box, xs = [1], [1.5 + r for r in range(4)]
            return [body(60, box, x) for x in xs] + [sys.getrefcount(box)] + [sys.getrefcount(x) for x in xs]
    """, ["body"])
    tg.check(res, traced=["body"])
    tree_ran(res, 4 * 60)
    st = res["stats"]
    assert st["restore_compiled"] >= 4 * 60 // 2, st
    assert st["trace_restores"] - st["restore_compiled"] == st["trace_entries"], st


def test_numbers_a_side_trace_cannot_write_in_place_go_through_the_restore_routine(tmp_path):
    # The ends where the machine code must not write the frame's objects, one function each (so that no
    # case hides another): an int changing sign, an int outgrowing one digit (2**30), a small int's cached
    # object (never written: replaced), a float the interpreter left in two slots. Each goes to the restore
    # routine, with CPython's results. (test_baseline_exits' CompletionRestoreIntoTheFrame checks each
    # condition on the frame's objects themselves.)
    res = run_prog(tmp_path, """
        def signs(n):
            s = 5000
            t = 0
            for k in range(n):
                for j in range(2):
                    t += j
                s = -s - k
            return s, t

        def digits(n):
            big = 7
            t = 0
            for k in range(n):
                for j in range(2):
                    t += j
                big = (big * 7 + 1) % 3000000000
            return big, t, big == int(str(big)), big.bit_length()

        def shared(n):
            x = y = 0.5        # one object in two slots (and the code's constant)
            t = 0
            for k in range(n):
                for j in range(2):
                    t += j
                x = x * 0.5 + k
            return x, y, t

        def small(n):
            w = 3
            t = 0
            for k in range(n):
                for j in range(2):
                    t += j
                w = w + 1000 if w < 256 else (w + 1) % 250
            return w, t, w is int(str(w)) if w < 256 else w

        def main():
            return [(signs(50), digits(50), small(50), shared(50)) for _ in range(4)]
    """, ["signs", "digits", "small", "shared"])
    tg.check(res, traced=["signs", "digits", "small", "shared"])
    st = res["stats"]
    assert st["restore_compiled"] >= 50 and st["trace_restores"] - st["restore_compiled"] >= 4 * 50, st


def test_a_linked_side_trace_checks_the_namespace_it_reads_at_its_entry(tmp_path):
    # The side trace reads the global STEP (the inner trace does not): rebinding STEP between calls changes
    # the globals' version, so the side trace's own entry check refuses the link and the C++ walk revalidates
    # (the same value: it runs on, linked again) or finds the value changed (the interpreter goes on from the
    # inner trace's exit). A twin of walk -- the same code object, exec'd into another namespace, where STEP
    # is 5 -- runs the same trees with other globals: there the entry check refuses the side trace recorded
    # with walk's (its STEP would be 3). CPython's results.
    res = run_prog(tmp_path, """
        STEP = 3

        def walk(n):
            t = 0
            for i in range(n):
                for j in range(4):
                    t += j
                t += STEP
            return t

        TWIN = {"STEP": 5, "range": range}
        exec(compile("def walk(n):\\n    pass", "<twin>", "exec"), TWIN)
        TWIN["walk"] = type(walk)(walk.__code__, TWIN)

        def main():
            global STEP
            out = []
            for k in range(12):
                STEP = 3 if k < 9 else 4
                out.append(walk(50))
                out.append(TWIN["walk"](50))
            return out
    """, ["walk"])
    tg.check(res, traced=["walk"])
    st = res["stats"]
    assert st["side_links"] >= 6 * 50 // 2, st


THROUGH_THE_OUTER_LOOP = """
    def walk(reps, m, w):
        t = 0
        for s in range(reps):
            i = 0
            while i < m:
                t += i * s
                i += 1
            t += max(t % 7, w[s % 8])
        return t

    def refcheck():
        return [max]

    def main():
        w = [3] * 8
        v = [3] * 7 + [2.5]
        return [walk(100, 1, w), walk(400, 3, w), walk(400, 4, w), walk(300, 3, v)]
"""


def test_a_side_trace_goes_through_an_enclosing_loops_header_back_to_its_own(tmp_path):
    # fannkuch's shape: the outer loop got a trace of its own first (the inner loop ran once per iteration,
    # inlined in it); then the inner loop gets one, and the side trace from its exit reaches the outer loop's
    # back-edge. It goes on through the outer header and the inner loop's test to the inner header, where it
    # closes the loop in machine code (trace_loop_backs), instead of linking to the outer trace, which would
    # hand over to the inner tree again (two trace_links per outer iteration). The side trace inlines `max`,
    # whose object only snapshots before any call hold: it is not held (borrowed_prune), so the chain holds
    # nothing and may close the loop. walk(.., v) exits where w[s] is a float, with `max` on the stack: the
    # restore hands CPython that object (refcounts compared).
    res = run_prog(tmp_path, THROUGH_THE_OUTER_LOOP, ["walk"])
    tg.check(res, traced=["walk"])
    st = res["stats"]
    assert st["trace_loop_backs"] >= 700 and st["trace_links"] <= 10, st


def test_through_the_outer_header_with_continue_break_and_an_exception(tmp_path):
    # The side trace that goes through the outer loop's header (as above) meets the ways an outer body
    # leaves the straight path: `continue` back to the outer header, a float where ints were, a `break` out
    # of both loops, a TypeError in the outer body, the outer loop's iterator running out. Each is an exit
    # of the side trace (or a side trace of its own): results, tracebacks and refcounts as CPython's. (The
    # leak check's hundreds of further calls, with side exits this varied, end with the loop blacklisted,
    # `side_exits`, as without going through the outer header: the stats are the first call's.)
    res = run_prog(tmp_path, """
        def walk(reps, m, data):
            t = 0
            for s in range(reps):
                i = 0
                while i < m:
                    t += i * s
                    i += 1
                if s % 11 == 5:
                    continue
                t += data[s % len(data)]
                if t > 10 ** 7:
                    break
            return t

        def main():
            out = [walk(100, 1, [1])]
            for m, data in ((3, [1, 2]), (4, [1, 2.5]), (2, [3] * 9 + [10 ** 6]), (3, [1, "x"])):
                try:
                    out.append(walk(400, m, data))
                except TypeError as e:
                    out.append(str(e))
            return out
    """, ["walk"])
    tg.check(res)
    st = res["stats"]
    assert st["traces_compiled"] >= 1 and st["side_traces"] >= 3, st
    assert st["trace_loop_backs"] >= 300, st


def test_a_side_trace_that_followed_the_rare_branch_is_recorded_again(tmp_path):
    # f's side trace of `i >= m` is recorded at its 20th exit (FASTPY_HOT_EXIT=20), i = 2025 in the first
    # call: the rare branch (1 in 100). Its guard then exits to a side trace of its own on 99 % of its runs;
    # once it ran 4096 times it is released from the loop's trace and recorded again, 20 exits later (i =
    # 19 of a later call): the common branch, the rare one its side trace in turn. g's inner branch is 50/50:
    # kept. Results and refcounts as CPython's; FASTPY_LOG=trace names the release.
    src = """
        def f(n, m):
            s = t = 0
            for i in range(n):
                if i >= m:
                    if i % 100 == 25:
                        s += 1
                    else:
                        s += 2
                        t += i
                else:
                    s -= 1
            return s, t

        def g(n, m):
            s = 0
            for i in range(n):
                if i >= m:
                    if i % 2 == 0:
                        s += 1
                    else:
                        s += 2
                else:
                    s -= 1
            return s

        def main():
            return [f(3000, 2005)] + [f(20000, 0) for _ in range(4)], [g(3000, 2005)] + [g(20000, 0) for _ in range(4)]
    """
    res = run_prog(tmp_path, src, ["f", "g"], FASTPY_HOT_LOOP="1000", FASTPY_HOT_EXIT="20", leak=False)
    tg.check(res, traced=["f", "g"], leak=False)
    st = res["stats"]
    assert st["side_traces_rerecorded"] == 1 and st["side_traces"] == 6, st
    (tmp_path / "prog.py").write_text(textwrap.dedent(src) + "\nprint(main())\n")
    r = run([FASTPY_COMMAND, "prog.py"], cwd=tmp_path,
            env=clean_env(FASTPY_LOG="trace", FASTPY_TIERS="interp,baseline", FASTPY_HOT_LOOP="1000", FASTPY_HOT_EXIT="20"))
    assert r.returncode == 0, r.stderr
    released = [l for l in r.stderr.splitlines() if "released to be recorded again" in l]
    assert len(released) == 1 and "prog.py:4 from %" in released[0], r.stderr
