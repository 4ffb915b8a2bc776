# Covers: list item store replacing int items (and a float item) in place, negative index too.
def run(n, xs, fs):
    for i in range(n):
        xs[i % 4] = xs[i % 4] + i
        xs[-1] = xs[-1] * 2 % 1009
        fs[i % 2] = fs[i % 2] + 0.5
    return xs, fs

ARGS = (50, [0, 0, 0, 1], [0.0, 1.0])
