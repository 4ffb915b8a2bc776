# Covers: `/` on two ints (true division gives a float), negative operands too.
def run(n):
    f = 0.0
    for i in range(n):
        f = f + (i - 25) / 7
    return f

ARGS = (50,)
