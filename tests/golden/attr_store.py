# Covers: stores to instance attributes (`p.vx += dt * ax`, `p.x = ...`): the old value loaded and
# type-guarded (float, int), the new value boxed, setattr + guard_true, the box released.
class Particle:
    def __init__(self, x, vx):
        self.x = x
        self.vx = vx
        self.n = 0


def run(p, steps, dt, ax):
    for i in range(steps):
        p.vx += dt * ax
        p.x = p.x + p.vx * dt
        p.n += 1
    return p.x, p.vx, p.n

ARGS = (Particle(0.0, 1.0), 50, 0.01, -9.81)
