# Covers: builtins abs (int and float), min and max with 2 arguments of the same type.
def run(n, x):
    s = 0
    f = 0.0
    for i in range(n):
        s = s + abs(i - 25) + min(i, 30) + max(i, 10)
        f = f + abs(x - i) + min(f, 100.0) * 0.01 + max(x, 0.5)
    return s, f

ARGS = (50, 12.5)
