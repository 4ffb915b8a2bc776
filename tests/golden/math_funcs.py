# Covers: math.sqrt, exp, log, sin, cos, tan (module attribute calls) on floats and ints.
import math

def run(n):
    f = 0.0
    for i in range(n):
        x = i + 1
        f = f + math.sqrt(x) + math.exp(-x / 10) + math.log(x) + math.sin(x) + math.cos(x) + math.tan(x / 100)
    return f

ARGS = (50,)
