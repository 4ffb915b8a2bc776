# Covers: a builtin name (abs) shadowed by a module global (math.fabs): the global wins, result is float.
import math

abs = math.fabs

def run(n):
    f = 0
    for i in range(n):
        f = f + abs(i - 25)
    return f

ARGS = (50,)
