# Covers: `not` on a comparison and unary minus on int and float.
def run(n, x):
    s = 0
    f = 0.0
    for i in range(n):
        if not i % 4 == 0:
            s = s + -i
        f = f + -x
    return s, f

ARGS = (50, 0.25)
