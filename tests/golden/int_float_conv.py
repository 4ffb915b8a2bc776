# Covers: int() of a float (truncates toward zero) and float() of an int.
def run(n, x):
    s = 0
    f = 0.0
    for i in range(n):
        s = s + int((i - 25) * x)
        f = f + float(i) / 4
    return s, f

ARGS = (50, 0.7)
