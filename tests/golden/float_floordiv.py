# Covers: `//` on floats with negative operands.
def run(n, x):
    f = 0.0
    for i in range(n):
        f = f + (x - i) // 2.5 + x // -(i + 1.0)
    return f

ARGS = (50, 10.75)
