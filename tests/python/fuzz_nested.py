"""Generates loop nests for differential fuzzing of the trace tiers (test_fuzz_nested.py), and runs them.

`python fuzz_nested.py START COUNT` generates the programs of seeds START .. START+COUNT-1, runs each one's
function on fresh data several times and prints one line per call: the result (every variable and list), or
the exception's type, message and line. The same command under fastpy (whole-program mode, low thresholds)
must print the same lines. `python fuzz_nested.py --show SEED` prints one seed's program.

The programs are what the trace tiers find hardest: loops nested up to three deep (for over range and over
lists, while with counters; short inner loops as fannkuch's, exits through break, continue and return),
int arithmetic that crosses 2**63 (overflow exits), floats with inf, nan and -0.0, list items loaded,
stored, swapped and updated in place (lists of ints, of floats, of float rows as n-body's), items and
variables that change type mid-loop, items indexed by an inner range loop's value plus or minus a
constant, calls of small functions, max/min/abs, math functions and int() that
raise on inf and nan, appends to a list, chained compares, ranges with other steps, `is None`, attributes,
a global rebound mid-loop, and exceptions raised and caught inside loops. Every loop is bounded: each program ends in a few thousand iterations."""
import random
import sys

INTS = ["a", "b", "c", "acc"]
FLOATS = ["x", "y", "z"]
BIG = ["2**62", "-2**63", "2**63 - 1", "4611686018427387905", "-7", "3", "1", "0", "255"]
FCONST = ["1.5", "-0.0", "0.1", "1e308", "-2.5", "3.0"]

PRELUDE = '''
import math

def h(p, q):
    return p * 3 - q

def hf(v):
    return v * 0.5 + 1.0

def pick(p):
    return None if p % 3 == 0 else p

K = 2

def bump():
    global K
    K += 1

class Obj:
    def __init__(self):
        self.n = 1
        self.v = 0.5
'''


class Gen:
    def __init__(self, seed):
        self.seed = seed
        self.R = random.Random(seed)
        self.lines = []
        self.loopvars = []    # readable loop variables (never assigned by generated statements)
        self.rangevars = []   # those of inner `for ... in range(...)` loops
        self.depth = 0        # loop nesting
        self.counter = 0      # unique loop variable names
        self.budget = 0       # statements left

    def emit(self, ind, text):
        self.lines.append("    " * ind + text)

    # ---- expressions
    def ivar(self):
        pool = INTS + self.loopvars
        return self.R.choice(pool)

    def idx(self, lst):
        # j + c of a range loop's value: checked for the whole range at once (it may be past either end:
        # IndexError, or a negative index counting from the end)
        if self.rangevars and self.R.random() < 0.3:
            v = self.R.choice(self.rangevars)
            c = self.R.randint(-2, 2)
            return f"{v} + {c}" if c >= 0 else f"{v} - {-c}"
        if self.R.random() < 0.25:   # from either end: -len(lst) .. len(lst) - 1 (negative ones count from the end)
            return f"({self.iexpr(1)}) % (2 * len({lst})) - len({lst})"
        return f"({self.iexpr(1)}) % len({lst})"

    def iexpr(self, d=2):
        R = self.R
        k = R.random()
        if d <= 0 or k < 0.35:
            if R.random() < 0.75:
                return self.ivar()
            return R.choice(BIG) if R.random() < 0.15 else str(R.randint(-9, 9))
        if k < 0.45:
            return f"L[{self.idx('L')}]"
        if k < 0.5:
            return self.R.choice(["K", "o.n"])
        if k < 0.75:
            op = R.choice(["+", "-", "*", "&", "|", "^"])
            return f"({self.iexpr(d - 1)} {op} {self.iexpr(d - 1)})"
        if k < 0.82:
            return f"({self.iexpr(d - 1)} {R.choice(['//', '%'])} ({self.iexpr(d - 1)} | 1))"
        if k < 0.86:
            return f"({self.iexpr(d - 1)} {R.choice(['<<', '>>'])} {R.randint(0, 5)})"
        if k < 0.93:
            return f"{R.choice(['max', 'min'])}({self.iexpr(d - 1)}, {self.iexpr(d - 1)})"
        if k < 0.96:
            return f"abs({self.iexpr(d - 1)})"
        return f"h({self.iexpr(d - 1)}, {self.ivar()})"

    def fexpr(self, d=2):
        R = self.R
        k = R.random()
        if d <= 0 or k < 0.3:
            return R.choice(FLOATS) if R.random() < 0.8 else R.choice(FCONST)
        if k < 0.45:
            return f"F[{self.idx('F')}]"
        if k < 0.52:
            return f"G[{self.idx('G')}][{R.randint(0, 3)}]"
        if k < 0.55:
            return "o.v"
        if k < 0.8:
            op = R.choice(["+", "-", "*"])
            other = self.fexpr(d - 1) if R.random() < 0.8 else self.ivar()
            return f"({self.fexpr(d - 1)} {op} {other})"
        if k < 0.88:
            e = self.fexpr(d - 1)
            return f"({self.fexpr(d - 1)} / ({e} * {e} + 1.0))"
        if k < 0.93:
            return f"abs({self.fexpr(d - 1)}) ** 0.5"
        if k < 0.97:
            return f"{R.choice(['max', 'min'])}({self.fexpr(d - 1)}, {self.fexpr(d - 1)})"
        return f"hf({self.fexpr(d - 1)})"

    def cond(self):
        R = self.R
        k = R.random()
        if k < 0.4:
            return f"{self.iexpr(1)} {R.choice(['<', '<=', '>', '>=', '==', '!='])} {self.iexpr(1)}"
        if k < 0.6:
            return f"{self.fexpr(1)} {R.choice(['<', '>', '<=', '>='])} {self.fexpr(1)}"
        if k < 0.8:
            return f"{self.ivar()} % {R.randint(2, 5)} == {R.randint(0, 1)}"
        if k < 0.9:
            return f"pick({self.ivar()}) is {R.choice(['None', 'not None'])}"
        return f"{self.cond_simple()} {R.choice(['and', 'or'])} {self.cond_simple()}"

    def cond_simple(self):
        return f"{self.ivar()} {self.R.choice(['<', '>', '=='])} {self.iexpr(0)}"

    # ---- statements
    def stmt(self, ind):
        R = self.R
        self.budget -= 1
        k = R.random()
        if k < 0.16:
            v = R.choice(INTS)
            self.emit(ind, f"{v} {R.choice(['=', '+=', '-=', '^='])} {self.iexpr()}")
            # ints may pass 2**63 (the fast path's overflow exit) but stay small enough to stay fast
            self.emit(ind, f"if not -2**62 < {v} < 2**62: {v} = {v} % 1000003")
        elif k < 0.28:
            v = R.choice(FLOATS)
            self.emit(ind, f"{v} {R.choice(['=', '+=', '-=', '*='])} {self.fexpr()}")
            if R.random() < 0.7:
                self.emit(ind, f"if not -1e200 < {v} < 1e200: {v} = 0.25")
            else:   # floats may reach inf and nan; an int put there (`x = 2`) must not square itself forever
                self.emit(ind, f"if {v} % 1 == 0 and not -2**62 < {v} < 2**62: {v} = 7")
        elif k < 0.38:
            if R.random() < 0.5:
                self.emit(ind, f"p = {self.idx('L')}")
                self.emit(ind, f"L[p] {R.choice(['=', '+=', '-='])} {self.iexpr(1)}")
                self.emit(ind, "if not -2**62 < L[p] < 2**62: L[p] = 7")
            else:
                self.emit(ind, f"p = {self.idx('F')}")
                self.emit(ind, f"F[p] {R.choice(['=', '+=', '-=', '*='])} {self.fexpr(1)}")
                self.emit(ind, "if not -1e200 < F[p] < 1e200: F[p] = 0.5")
        elif k < 0.44:
            lst = R.choice(["L", "F"])
            self.emit(ind, f"p, q = {self.idx(lst)}, {self.idx(lst)}")
            self.emit(ind, f"{lst}[p], {lst}[q] = {lst}[q], {lst}[p]")
        elif k < 0.48:
            pair = R.choice([("a", "b"), ("x", "y"), ("b", "c")])
            self.emit(ind, f"{pair[0]}, {pair[1]} = {pair[1]}, {pair[0]}")
        elif k < 0.54:   # an n-body row: loaded once, items updated in place
            self.emit(ind, f"row = G[{self.idx('G')}]")
            self.emit(ind, f"row[{R.randint(0, 3)}] {R.choice(['+=', '-=', '='])} row[{R.randint(0, 3)}] * {self.fexpr(1)}")
        elif k < 0.64 and self.depth < 3:
            self.loop(ind)
        elif k < 0.74:
            self.emit(ind, f"if {self.cond()}:")
            self.block(ind + 1, R.randint(1, 2))
            if R.random() < 0.4:
                self.emit(ind, "else:")
                self.block(ind + 1, R.randint(1, 2))
        elif k < 0.79 and self.depth > 0:
            self.emit(ind, f"if {self.cond()}: {R.choice(['break', 'continue'])}")
        elif k < 0.82:   # a type changes mid-loop
            t = R.random()
            if t < 0.3:
                self.emit(ind, f"if {self.ivar()} == {R.randint(0, 6)}: F[{self.idx('F')}] = {R.randint(-3, 3)}")
            elif t < 0.55:
                self.emit(ind, f"if {self.ivar()} == {R.randint(0, 6)}: L[{self.idx('L')}] = {R.choice(['True', '2.5', 'False'])}")
            elif t < 0.8:
                self.emit(ind, f"if {self.ivar()} == {R.randint(0, 6)}: {R.choice(FLOATS)} = {R.randint(-2, 2)}")
            else:
                self.emit(ind, f"if {self.ivar()} == {R.randint(0, 6)}: {R.choice(INTS)} = 2.0")
        elif k < 0.86:
            v = R.choice(INTS)
            self.emit(ind, "try:")
            self.emit(ind + 1, f"{v} = {self.iexpr(1)} // L[{self.idx('L')}]")
            self.emit(ind, "except ZeroDivisionError:")
            self.emit(ind + 1, f"{R.choice(INTS)} = {R.randint(-3, 3)}")
            self.emit(ind, f"if not -2**62 < {v} < 2**62: {v} = {v} % 1000003")
        elif k < 0.88 and self.depth > 1:
            self.emit(ind, f"if {self.cond()}: return 'early', a, b, c, acc, x, y, z, L, F, G, o.n, o.v, K, R")
        elif k < 0.87:
            self.emit(ind, f"acc += {R.choice(['len(L)', 'len(F)', self.ivar(), 'int(x > y)', 'len(R)'])}")
        elif k < 0.89:
            t = R.random()
            if t < 0.4:
                self.emit(ind, f"R.append({R.choice([self.iexpr(1), self.fexpr(1)])})")
            elif t < 0.7:   # int() of inf or nan raises; of 1e300, a big int
                self.emit(ind, f"acc = int({self.fexpr(1)}) % 1000003")
            else:   # math.floor of inf raises (and gives an int); sqrt of a negative too (math domain error)
                v = R.choice(FLOATS)
                self.emit(ind, f"{v} = math.{R.choice(['sqrt', 'floor', 'fabs'])}({self.fexpr(1)})")
                self.emit(ind, f"if not -1e200 < {v} < 1e200: {v} = 0.25")
        elif k < 0.9:
            self.emit(ind, f"if {self.iexpr(0)} < {self.iexpr(1)} <= {self.iexpr(0)}: acc -= 1")
        elif k < 0.92:
            t = R.random()
            if t < 0.4:
                self.emit(ind, f"o.n = ({self.iexpr(1)}) % 1000")
            elif t < 0.8:
                self.emit(ind, f"o.v {R.choice(['=', '+=', '*='])} {self.fexpr(1)}")
            else:   # a global the trace reads changes (its namespace guard fails)
                self.emit(ind, f"if {self.ivar()} == {R.randint(0, 8)}: bump()")
        else:
            v = R.choice(INTS)
            self.emit(ind, f"{v} = {self.iexpr()} if {self.cond()} else {self.iexpr(1)}")
            self.emit(ind, f"if not -2**62 < {v} < 2**62: {v} = 5")

    def block(self, ind, count):
        for _ in range(count):
            if self.budget <= 0:
                self.emit(ind, "acc += 1")
                continue
            self.stmt(ind)

    def loop(self, ind):
        R = self.R
        self.counter += 1
        v = f"j{self.counter}"
        k = R.random()
        if k < 0.4:   # short inner loops, as fannkuch's
            self.emit(ind, f"for {v} in range({R.choice(['', '1, '])}({self.ivar()}) % {R.randint(2, 6)}):")
        elif k < 0.5:
            self.emit(ind, f"for {v} in range({R.randint(3, 12)}):")
        elif k < 0.6:   # other steps
            self.emit(ind, f"for {v} in range({R.choice(['(' + self.ivar() + ') % 7, -2, -1', '1, 9, 2', '8, (' + self.ivar() + ') % 5, -3'])}):")
        elif k < 0.68:
            self.emit(ind, f"for {v} in L:")
        elif k < 0.75:   # the loop variable is a float or a row: a variable the statements use
            self.emit(ind, R.choice(["for x in F:", "for row in G:"]))
            v = None
        else:   # while with a counter of its own
            self.emit(ind, f"{v} = 0")
            self.emit(ind, f"while {v} < {R.randint(2, 9)}:")
            self.emit(ind + 1, f"{v} += 1")
        self.depth += 1
        ranged = v is not None and k < 0.6
        if v:
            self.loopvars.append(v)
        if ranged:
            self.rangevars.append(v)
        self.block(ind + 1, R.randint(1, 4))
        if ranged:
            self.rangevars.pop()
        if v:
            self.loopvars.pop()
        self.depth -= 1

    def program(self):
        self.budget = self.R.randint(6, 18)
        self.emit(0, "def f(n, L, F, G):")
        self.emit(1, "a, b, c, acc = 3, -2, 7, 0")
        self.emit(1, "x, y, z = 0.5, -1.25, 0.0")
        self.emit(1, "p = q = 0")
        self.emit(1, "row = G[0]")
        self.emit(1, "o = Obj()")
        self.emit(1, "R = []")
        self.emit(1, "for i in range(n):")
        self.depth = 1
        self.loopvars = ["i"]
        self.block(2, self.R.randint(2, 5))
        while self.budget > 0:
            self.stmt(2)
        self.emit(1, "return a, b, c, acc, x, y, z, L, F, G, o.n, o.v, K, R")
        return PRELUDE + "\n".join(self.lines) + "\n"


NUMPY = False   # --numpy: F a 1-D float64 array, G a 2-D one (its rows views), as numpy_loop's


def data(call):
    L = [3, -1, 4, 1, 0, 9, 2, 6][: 5 + call % 4]
    F = [0.5, -1.5, 2.25, 0.0, 1e300, -3.0][: 3 + call % 4]
    G = [[float(r), r * 0.5, -1.0, 2.0] for r in range(4)]
    if NUMPY:
        import numpy
        return L, numpy.array(F), numpy.array(G)
    return L, F, G


def run(seed):
    src = Gen(seed).program()
    ns = {"__name__": f"fuzz{seed}"}
    exec(compile(src, f"<seed {seed}>", "exec"), ns)
    f = ns["f"]
    out = []
    for call in range(6):
        L, F, G = data(call)
        try:
            res = f(30 + 7 * call, L, F, G)
            r = repr(res)
            del res
            # references the function left behind (a trace that leaked one differs)
            r += f" refs {[sys.getrefcount(o) for o in [L, F, G] + list(G)]}"
        except Exception as e:   # the same exception, message and line under fastpy
            tb = e.__traceback__
            while tb.tb_next is not None:
                tb = tb.tb_next
            r = f"{type(e).__name__}: {e} (line {tb.tb_lineno}) {L!r} {F!r}"
        out.append(r)
    return out


def main(argv):
    """[--numpy] START COUNT, or --show SEED."""
    global NUMPY
    if argv[0] == "--numpy":
        NUMPY = True
        argv = argv[1:]
    if argv[0] == "--show":
        print(Gen(int(argv[1])).program())
        return 0
    start, count = int(argv[0]), int(argv[1])
    for seed in range(start, start + count):
        for k, r in enumerate(run(seed)):
            print(seed, k, r)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
