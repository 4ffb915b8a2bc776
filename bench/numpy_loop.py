"""numpy element loop: Python-level index loads/stores on 1-D and 2-D float64 arrays (numeric)."""
import sys

import numpy as np

CATEGORY = "numeric"


def smooth(a, out):
    for i in range(1, a.shape[0] - 1):
        out[i] = 0.25 * a[i - 1] + 0.5 * a[i] + 0.25 * a[i + 1]


def stencil2d(g, out):
    n, m = g.shape
    for i in range(1, n - 1):
        for j in range(1, m - 1):
            out[i, j] = 0.2 * (g[i, j] + g[i - 1, j] + g[i + 1, j] + g[i, j - 1] + g[i, j + 1])


def main(scale):
    a = np.linspace(0.0, 1.0, 300000 * scale)
    out = np.zeros_like(a)
    smooth(a, out)
    g = np.fromfunction(lambda i, j: (i * 7 + j * 3) % 11 / 10.0, (400, 400))
    out2 = np.zeros_like(g)
    stencil2d(g, out2)
    print(f"{float(out.sum()):.9f} {float(out2.sum()):.9f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
