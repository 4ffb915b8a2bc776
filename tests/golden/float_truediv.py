# Covers: `/` on floats (and float / int).
def run(n, x):
    f = 0.0
    for i in range(n):
        f = f + x / (i + 0.5) - f / 3
    return f

ARGS = (50, 3.0)
