# Covers: a list indexed by a range(n) loop's value: the range specialized on start 0 and step 1 (the value is
# the iterator's index, advanced by a plain add), and the index known non-negative (no `>= 0` guard, only
# the one against the list's length).
def run(n, xs):
    s = 0.0
    for i in range(n):
        s = s + xs[i] * xs[n - 1 - i]
    return s

ARGS = (40, [k * 0.25 for k in range(40)])
