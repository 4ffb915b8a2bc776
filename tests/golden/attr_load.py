# Covers: loads of instance attributes of a user class (float, int, str): type and type-version guards, getattr
# + guard_nonnull + decref, the numbers unboxed.
class Particle:
    def __init__(self, x, vx):
        self.x = x
        self.vx = vx
        self.n = 3
        self.name = "p"


def run(p, steps):
    s = 0.0
    k = 0
    for i in range(steps):
        s = s + p.x * p.vx
        k = k + p.n
        tag = p.name
    return s, k, tag

ARGS = (Particle(1.5, -0.25), 50)
