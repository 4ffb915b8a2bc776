# Covers: a loop-invariant expression (k * m + 3, math.sqrt(k)) the optimizer can keep before `loop`.
import math

def run(n, k, m):
    s = 0
    f = 0.0
    for i in range(n):
        s = s + (k * m + 3) * i
        f = f + math.sqrt(k)
    return s, f

ARGS = (50, 6, 7)
