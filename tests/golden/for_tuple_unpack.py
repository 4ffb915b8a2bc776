# Covers: `for (a, b) in pairs` over a tuple of tuples (tuple iterator) with UNPACK_SEQUENCE of each pair.
def run(pairs):
    s = 0
    t = 0.0
    for a, b in pairs:
        s = s + a
        t = t + b
    return s, t

ARGS = (tuple((i, i * 1.5) for i in range(60)),)
