# Covers: a list indexed by a range(n) loop's value: the range specialized on start 0 and step 1 (the value is
# the iterator's index, advanced by a plain add), and the index known non-negative (no `>= 0` guard) and
# below the range's length, so its check against the list's length is `le len(range), len(xs)`, which the
# loop does not change: hoisted, the body has none (the other index, n - 1 - i, keeps its `ult`).
def run(n, xs):
    s = 0.0
    for i in range(n):
        s = s + xs[i] * xs[n - 1 - i]
    return s

ARGS = (40, [k * 0.25 for k in range(40)])
