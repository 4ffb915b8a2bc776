# Covers: module attributes read in the loop (math.pi, a float constant of the math module).
import math

def run(n):
    f = 0.0
    for i in range(n):
        f = f + math.pi * i
    return f

ARGS = (50,)
