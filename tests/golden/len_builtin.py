# Covers: len() of a list and of a tuple.
def run(n, xs, t):
    s = 0
    for i in range(n):
        s = s + len(xs) * i + len(t)
    return s

ARGS = (50, [1, 2, 3, 4, 5], (1, 2, 3))
