# Covers: a numpy int64 2-D array indexed with a tuple `m[i, j]` (BUILD_TUPLE recorded with the subscript:
# no tuple is made in the trace), loads and stores, C order.
import numpy as np


def run(m):
    for k in range(m.shape[0] * m.shape[1]):
        i = k // 4
        j = k % 4
        m[i, j] = m[i, j] * 2 + i - j
    return int(m.sum())

ARGS = (np.arange(60, dtype=np.int64).reshape(15, 4),)
