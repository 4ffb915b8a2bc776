# Covers: math.log2, log10, asin, acos, atan, sinh, cosh, tanh, expm1, log1p, fabs.
import math

def run(n):
    f = 0.0
    for i in range(n):
        x = (i + 1) / 64
        f = (f + math.log2(x) + math.log10(x) + math.asin(x) + math.acos(x) + math.atan(x)
             + math.sinh(x) + math.cosh(x) + math.tanh(x) + math.expm1(x) + math.log1p(x) + math.fabs(-x))
    return f

ARGS = (50,)
