# Covers: a list indexed by the value of a range that does not start at 0: start + index may be negative
# (range(-5, n)), so the `>= 0` guard stays in front of the one against the list's length (compare
# range_index, where the value is the iterator's own index and needs none).
def run(lo, n, xs):
    s = 0.0
    for i in range(lo, n):
        s = s + xs[i]
    return s

ARGS = (3, 40, [k * 0.25 for k in range(40)])
