# Covers: `%` on floats with negative operands (result takes the divisor's sign).
def run(n, x):
    f = 0.0
    for i in range(n):
        f = f + (x - i) % 2.5 + x % -(i + 1.5)
    return f

ARGS = (50, 10.75)
