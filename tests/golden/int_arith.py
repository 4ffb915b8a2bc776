# Covers: int arithmetic (+ - *) on locals and constants in a `for i in range(n)` loop.
def run(n):
    s = 0
    for i in range(n):
        s = s + i * 3 - 7
    return s

ARGS = (50,)
