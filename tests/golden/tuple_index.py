# Covers: tuple indexing with positive and negative indices.
def run(n, t):
    s = 0
    for i in range(n):
        s = s + t[i % 4] - t[-1] * t[-(i % 4) - 1]
    return s

ARGS = (50, (2, 7, 1, 8))
