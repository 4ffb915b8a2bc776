"""mandelbrot: escape-time iteration over a grid, pure float arithmetic (numeric)."""
import sys

CATEGORY = "numeric"


def escape_count(size, max_iter):
    total = 0
    for y in range(size):
        ci = 2.0 * y / size - 1.0
        for x in range(size):
            cr = 2.0 * x / size - 1.5
            zr = zi = 0.0
            i = 0
            while i < max_iter and zr * zr + zi * zi <= 4.0:
                zr, zi = zr * zr - zi * zi + cr, 2.0 * zr * zi + ci
                i += 1
            total += i
    return total


def main(scale):
    print(escape_count(500 * scale, 100))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
