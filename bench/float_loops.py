"""float loops: sums, dot products and math functions over lists of floats (numeric)."""
import math
import sys

CATEGORY = "numeric"


def make(n):
    return [math.sin(i * 0.001) for i in range(n)], [math.cos(i * 0.002) for i in range(n)]


def dot(xs, ys):
    s = 0.0
    for i in range(len(xs)):
        s += xs[i] * ys[i]
    return s


def norm_sum(xs):
    s = 0.0
    for x in xs:
        s += math.sqrt(x * x + 1.0)
    return s


def axpy(a, xs, ys):
    for i in range(len(xs)):
        ys[i] = a * xs[i] + ys[i]


def main(scale):
    xs, ys = make(100000)
    total = 0.0
    for r in range(60 * scale):
        total += dot(xs, ys) + norm_sum(xs)
        axpy(0.5, xs, ys)
    print(f"{total:.6f}", f"{ys[12345]:.9f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
