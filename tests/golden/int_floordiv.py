# Covers: `//` on ints with negative operands (Python floors, C truncates).
def run(n):
    s = 0
    for i in range(n):
        s = s + (i - 25) // 7 + 100 // (i - 60)
    return s

ARGS = (50,)
