# Covers: `for x in lst` over a list of floats (list iterator: index, length and item loads; the item unboxed).
def run(xs):
    s = 0.0
    for x in xs:
        s = s + x * x
    return s

ARGS = ([i * 0.25 for i in range(60)],)
