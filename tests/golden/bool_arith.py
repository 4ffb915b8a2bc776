# Covers: bools in arithmetic and compares as the ints 0 and 1 (b2i): counting with a comparison result.
def run(n):
    c = 0
    for i in range(n):
        even = i % 2 == 0
        c = c + even * 3 - (even < True)
    return c

ARGS = (60,)
