"""method calls: many small method calls and attribute loads/stores on instances (object)."""
import sys

CATEGORY = "object"


class Vec:
    def __init__(self, x, y):
        self.x = x
        self.y = y

    def add(self, other):
        self.x += other.x
        self.y += other.y
        return self

    def scaled(self, k):
        return Vec(self.x * k, self.y * k)

    def dot(self, other):
        return self.x * other.x + self.y * other.y


class Particle:
    def __init__(self, i):
        self.pos = Vec(i, -i)
        self.vel = Vec(1, 2)

    def step(self):
        self.pos.add(self.vel)
        return self.pos.dot(self.vel)


def run(n, steps):
    ps = [Particle(i) for i in range(n)]
    total = 0
    for _ in range(steps):
        for p in ps:
            total += p.step()
        total += ps[0].vel.scaled(3).dot(ps[-1].pos)
    return total


def main(scale):
    print(run(100, 20000 * scale))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
