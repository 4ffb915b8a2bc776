# Covers: float arithmetic (+ - * /) on float locals and float constants.
def run(n, x):
    f = 1.0
    for i in range(n):
        f = f * 0.5 + x - 1.25 / x
    return f

ARGS = (50, 2.5)
