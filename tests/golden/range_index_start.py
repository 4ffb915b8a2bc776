# Covers: a list indexed by the value of a range that does not start at 0: checked for the whole range
# before the loop -- start >= 0 (a range(-5, n) fails it and is checked per index instead) and
# start + len(range) <= len(xs) -- values the loop does not change, so the body checks nothing (compare
# range_index, where the value is the iterator's own index and needs no `>= 0`).
def run(lo, n, xs):
    s = 0.0
    for i in range(lo, n):
        s = s + xs[i]
    return s

ARGS = (3, 40, [k * 0.25 for k in range(40)])
