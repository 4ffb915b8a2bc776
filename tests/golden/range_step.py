# Covers: range(start, stop, step) with a negative step.
def run(n):
    s = 0
    for i in range(n, -n, -3):
        s = s + i * i - i
    return s

ARGS = (80,)
