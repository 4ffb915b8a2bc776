# Covers: tuple-swap assignment `a, b = b, a + b` (Fibonacci mod a prime).
def run(n):
    a = 0
    b = 1
    for i in range(n):
        a, b = b, (a + b) % 1000003
    return a, b

ARGS = (50,)
