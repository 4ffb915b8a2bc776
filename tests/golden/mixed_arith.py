# Covers: mixed int/float arithmetic (int + float, float * int, int - float).
def run(n, x):
    f = 0.0
    for i in range(n):
        f = f + i * x - (i - 0.5)
    return f

ARGS = (50, 1.5)
