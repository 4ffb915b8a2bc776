# Covers: list indexing with positive and negative indices (ints and floats in the list).
def run(n, xs, ys):
    s = 0
    f = 0.0
    for i in range(n):
        s = s + xs[i % 5] * xs[-1 - i % 3]
        f = f + ys[-2]
    return s, f

ARGS = (50, [3, 1, 4, 1, 5], [0.5, 1.5, 2.5])
