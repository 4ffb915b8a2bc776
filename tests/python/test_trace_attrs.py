"""Traced attribute loads and stores on instances of user classes (interp/record_attr.cpp): `p.x`, `p.x = v`,
`self.vx += dt * ax`. Same harness as test_trace_guards.py (a subprocess runs main() on plain CPython and under
fastpy with FASTPY_TIERS=interp,ir, FASTPY_HOT_LOOP=5): identical results or tracebacks, identical
sys.getrefcount of the instances and their values, no growth over 2 x 100 runs, the loop traced and run in the
IR executor -- and, where the attribute or its class changes after the trace is hot, the guard really exited.
"""
from test_trace_guards import check, loops_of, run_prog, trace_tier  # noqa: F401 (autouse: every test per trace tier)

PARTICLE = """
    class Particle:
        def __init__(self, x, vx):
            self.x = x
            self.vx = vx
            self.n = 0
            self.name = "p"
"""


def test_particle_float_and_int_attributes(tmp_path):
    res = run_prog(tmp_path, PARTICLE + """
    def step(ps, n, dt, ax):
        for i in range(n):
            p = ps[i % len(ps)]
            p.vx += dt * ax
            p.x = p.x + p.vx * dt
            p.n += 1
            tag = p.name
        return tag

    PS = [Particle(0.5 * k, 1.0) for k in range(3)]

    def main():
        out = [step(PS, 200, 0.01, -9.81), step(PS, 100, 0.02, 3.0)]
        return out + [(p.x, p.vx, p.n) for p in PS]

    def refcheck():
        return PS + [p.x for p in PS] + [p.vx for p in PS] + [p.name for p in PS]
    """, ["step"])
    check(res, traced=["step"])
    (loop,) = loops_of(res, "step")
    assert loop["abort_reason"] == "", loop


def test_object_attributes_loaded_borrowed(tmp_path):
    res = run_prog(tmp_path, """
    class Acc:
        def __init__(self):
            self.items = []
            self.total = 0
            self.flag = True

    def fill(a, n):
        for i in range(n):
            xs = a.items
            xs.append(i)
            a.total = a.total + i
            if a.flag:
                a.total += 1
        return a.total, len(a.items)

    A = Acc()

    def main():
        return [fill(A, 100), fill(A, 50), fill(Acc(), 30)]

    def refcheck():
        return [A, A.items, A.total]
    """, ["fill"])
    check(res, traced=["fill"])


def test_attribute_deleted_mid_loop(tmp_path):
    res = run_prog(tmp_path, PARTICLE + """
    import traceback

    def step(p, n, k):
        s = 0.0
        for i in range(n):
            if i == k:
                del p.vx
            s = s + p.vx
            p.x = p.x + 1.0
        return s

    def step2(p, n, k):
        for i in range(n):
            if i == k:
                del p.x           # the store finds no old value: the guard exits, the interpreter adds it
            p.x = 1.5 * i
        return p.x

    def main():
        out = [step(Particle(0.0, 2.0), 100, 1000)]
        try:
            out.append(step(Particle(0.0, 2.0), 100, 60))
        except AttributeError:
            out.append(traceback.format_exc())
        out.append(step2(Particle(0.0, 1.0), 100, 60))
        out.append(step2(Particle(0.0, 1.0), 100, 1000))
        return out
    """, ["step", "step2"])
    check(res, traced=["step", "step2"], exited=["step", "step2"])


def test_attribute_type_changes_mid_loop(tmp_path):
    res = run_prog(tmp_path, PARTICLE + """
    import traceback

    def step(p, n, k, v):
        s = 0.0
        for i in range(n):
            if i == k:
                p.vx = v
            s = s + p.vx
            p.x = p.x + p.vx
        return s, p.x

    def main():
        out = [step(Particle(0.0, 2.0), 100, 1000, 0)]
        out.append(step(Particle(0.0, 2.0), 100, 50, 3))          # float -> int
        out.append(step(Particle(0.0, 2.0), 100, 50, 2**70))      # -> a big int
        out.append(step(Particle(0.0, 2.0), 100, 50, True))       # -> a bool
        try:
            out.append(step(Particle(0.0, 2.0), 100, 50, "s"))    # -> a str: TypeError
        except TypeError:
            out.append(traceback.format_exc())
        return out

    P = Particle(0.0, 2.0)

    def refcheck():
        return [P, P.x, P.vx]
    """, ["step"])
    check(res, traced=["step"], exited=["step"])


def test_class_changed_mid_loop_property_setattr(tmp_path):
    res = run_prog(tmp_path, """
    import traceback

    def make():
        class P:
            def __init__(self):
                self.x = 0.0
                self.y = 1.0
        return P

    def step(p, n, k, change):
        for i in range(n):
            if i == k:
                change(type(p))
            p.x = p.x + p.y
        return p.x, p.__dict__

    def add_property(cls):
        cls.y = property(lambda s: 10.0)

    def add_setattr(cls):
        def setattr_(s, name, v):
            object.__setattr__(s, name, v * 2)
        cls.__setattr__ = setattr_

    def add_readonly_x(cls):
        cls.x = property(lambda s: 5.0)

    def add_class_default(cls):
        cls.z = 3

    def main():
        out = []
        for change in (add_property, add_setattr, add_class_default):
            P = make()
            out.append(step(P(), 100, 1000, change))
            out.append(step(P(), 100, 50, change))
            out.append(step(P(), 100, 1000, change))
        P = make()
        out.append(step(P(), 100, 1000, add_readonly_x))
        try:
            out.append(step(P(), 100, 50, add_readonly_x))
        except AttributeError:
            out.append(traceback.format_exc())
        return out
    """, ["step"])
    check(res, traced=["step"], exited=["step"])


def test_instance_class_reassigned_mid_loop(tmp_path):
    res = run_prog(tmp_path, """
    class A:
        def __init__(self):
            self.x = 0
    class B:
        pass

    def step(p, n, k):
        for i in range(n):
            if i == k:
                p.__class__ = B
            p.x += i
        return p.x, type(p).__name__

    def main():
        return [step(A(), 100, 1000), step(A(), 100, 40)]
    """, ["step"])
    check(res, traced=["step"], exited=["step"])


def test_unsupported_owners_abort(tmp_path):
    res = run_prog(tmp_path, """
    class Slots:
        __slots__ = ("x",)
        def __init__(self):
            self.x = 0

    class Prop:
        def __init__(self):
            self._x = 0
        @property
        def x(self):
            return self._x

    class GetAttr:
        def __getattr__(self, name):
            return 1

    class Default:
        x = 5

    def slots(p, n):
        for i in range(n):
            p.x = p.x + i
        return p.x

    def prop(p, n):
        s = 0
        for i in range(n):
            s = s + p.x
        return s

    def getattr_(p, n):
        s = 0
        for i in range(n):
            s = s + p.x
        return s

    def default(p, n):
        s = 0
        for i in range(n):
            s = s + p.x
        return s

    def main():
        return [slots(Slots(), 50), prop(Prop(), 50), getattr_(GetAttr(), 50), default(Default(), 50)]
    """, ["slots", "prop", "getattr_", "default"], FASTPY_MAX_ABORTS="1")
    check(res, aborted={"slots": "attribute", "prop": "attribute", "getattr_": "attribute",
                        "default": "attribute"})


def test_inline_values_guards(tmp_path):
    """Attributes kept inline (3.11's values array, laid out by the class's shared keys) are read and written
    in place: the trace's IR has no getattr/setattr. Each way the layout can change under a hot trace exits:
    the instance's __dict__ materialized (the values array goes away), an attribute deleted (its slot
    empties), and instances whose attributes were added in another order or with extra keys (the shared keys
    grow; indices stay) run the same trace."""
    res = run_prog(tmp_path, PARTICLE + """
    import fastpy

    def step(ps, n, k, change):
        s = 0.0
        for i in range(n):
            p = ps[i % len(ps)]
            if i == k:
                change(p)
            p.x = p.x + p.vx
            s = s + p.x
        return s, [vars(q) for q in ps]

    def materialize(p):
        p.__dict__["extra"] = 1        # the values array becomes a real dict

    def delete(p):
        del p.vx

    def nothing(p):
        pass

    class Q:
        def __init__(self, order):
            if order:
                self.vx = 0.5
                self.x = 1.0
            else:
                self.x = 1.0
                self.extra = "e"
                self.vx = 0.25

    def main():
        out = [step([Particle(0.0, 1.0), Particle(1.0, 2.0)], 100, 1000, nothing)]
        out.append(step([Particle(0.0, 1.0), Particle(1.0, 2.0)], 100, 60, materialize))
        try:
            out.append(step([Particle(0.0, 1.0)], 100, 61, delete))
        except AttributeError:
            out.append(traceback.format_exc())
        out.append(step([Q(True), Q(False), Q(True)], 100, 1000, nothing))
        return out

    import traceback
    """, ["step"])
    check(res, traced=["step"], exited=["step"])


def test_inline_values_ir(tmp_path):
    # Which path ran: the optimized IR reads the values array (load_ptr at -32) with no getattr or setattr.
    import json
    from conftest import PYTHON, clean_env, run as run_
    from test_trace_guards import TRACE_TIERS, _tier
    path = tmp_path / "prog.py"
    path.write_text("""
import json
import fastpy
from fastpy import _fastpy

class P:
    def __init__(self):
        self.x = 0.0
        self.y = 1.0

@fastpy.jit
def f(p, n):
    for i in range(n):
        p.x = p.x + p.y
    return p.x

r = f(P(), 3000)
loop = _fastpy.code_loops(f.__code__)[0]
print(json.dumps(dict(r=r, ir=_fastpy.loop_trace_ir(f.__code__, loop["jump"])[1])))
""")
    r = run_([PYTHON, str(path)], env=clean_env(FASTPY_TIERS=TRACE_TIERS[_tier["now"]][0]), cwd=tmp_path, timeout=60)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["r"] == 3000.0
    assert "load_ptr" in res["ir"] and ", -32" in res["ir"], res["ir"]
    assert "getattr" not in res["ir"] and "setattr" not in res["ir"], res["ir"]
