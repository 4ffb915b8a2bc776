# Covers: `%` on ints with negative operands (result takes the divisor's sign).
def run(n):
    s = 0
    for i in range(n):
        s = s * 3 + (i - 25) % 7 + 13 % (i - 60)
        s = s % 1000003
    return s

ARGS = (50,)
