# Covers: comparisons of float with int (both orders) and float with float.
def run(n, x):
    c = 0
    for i in range(n):
        f = i * x
        if f < 20:
            c = c + 1
        if 30 <= f:
            c = c + 10
        if f == i:
            c = c + 100
        if f > 7.5:
            c = c + 1000
    return c

ARGS = (50, 0.75)
