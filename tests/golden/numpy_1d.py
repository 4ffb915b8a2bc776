# Covers: numpy float64 1-D arrays: element loads (a numpy.float64 in CPython: the accumulator becomes one,
# and the trace keeps it as a numpy scalar at exits) and element stores, guarded on type, dtype, ndim, flags.
import numpy as np


def run(a, b):
    s = 0.0
    for i in range(len(a)):
        s += a[i] * 2.0
        b[i] = a[i] + 1.0
    return s, type(s).__name__, float(b.sum())

ARGS = (np.arange(60, dtype=np.float64), np.zeros(60))
