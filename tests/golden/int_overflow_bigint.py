# Covers: an int that leaves 64 bits mid-loop (overflow check exits the trace; big-int result must be exact).
def run(n):
    x = 1
    s = 0
    for i in range(n):
        x = x * 3
        s = s + i
    return x, s

ARGS = (45,)   # overflows at i == 40: a few exits after it, fewer than FASTPY_HOT_EXIT (the trace is kept)
