# Covers: a `while` loop with a counter and a compare in the loop test.
def run(n):
    i = 0
    s = 0
    while i < n:
        s = s + i * i
        i = i + 1
    return s

ARGS = (50,)
