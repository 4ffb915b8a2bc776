# Covers: a numpy stencil `out[i] = a[i - 1] + a[i] + a[i + 1]` over range(1, n - 1): every index i + c is
# checked for the whole range before the loop (start + c >= 0, start + c + len(range) <= the dimension),
# and the dimension itself, loaded through the array's `dimensions` pointer (load_cptr: memory no trace
# writes), is invariant although the loop stores into the array's data: the body has no index checks and no
# dimension loads.
import numpy as np


def run(a, out):
    for i in range(1, a.shape[0] - 1):
        out[i] = a[i - 1] + 0.5 * a[i] + a[i + 1]
    return float(out.sum())

ARGS = (np.arange(50, dtype=np.float64) * 0.25, np.zeros(50))
