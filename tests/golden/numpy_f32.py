# Covers: float32/int32 arrays: loads give numpy.float32/int32 scalars (snapshot box ':np32'), which with
# Python numbers compute in 64 bits (numpy 1.24); stores round to float32 / are range-guarded for int32.
import numpy as np


def run(a, b):
    s = 0.0
    for i in range(len(a)):
        x = a[i]
        s = s + x * 0.5
        b[i] = b[i] * 2 + 1
    return s, type(s).__name__, type(x).__name__, int(b.sum())

ARGS = (np.arange(60, dtype=np.float32) * np.float32(0.25), np.arange(60, dtype=np.int32))
