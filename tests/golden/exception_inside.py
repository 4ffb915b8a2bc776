# Covers: ZeroDivisionError raised and caught by a try/except inside the loop body.
def run(n):
    s = 0
    c = 0
    for i in range(n):
        try:
            s = s + 100 // (i % 13)
        except ZeroDivisionError:
            c = c + 1
    return s, c

ARGS = (50,)
