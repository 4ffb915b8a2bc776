# Covers: `>>` on ints (negative left operand shifts arithmetically).
def run(n):
    s = 0
    for i in range(n):
        s = s + ((i * 1000 - 20000) >> 3) + (i >> 2)
    return s

ARGS = (50,)
