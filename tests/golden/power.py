# Covers: ** on floats (d2 ** 0.5, x ** 2) and small ints, computed by CPython's own power code from the
# trace (fpow/ipow exit where CPython raises, returns a complex or an int beyond 64 bits).
def run(n):
    s = 0.0
    k = 0
    for i in range(1, n):
        d2 = i * 0.5 + 1.0
        s += d2 ** 0.5 + (s * 1e-3) ** 2
        k = (k + i ** 3) % 1000003
    return s, k

ARGS = (60,)
