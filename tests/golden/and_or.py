# Covers: short-circuit `and` / `or` in conditions.
def run(n):
    c = 0
    for i in range(n):
        if i > 5 and i < 20:
            c = c + 1
        if i < 3 or i > 45:
            c = c + 100
        if (i % 2 == 0 and i % 3 == 0) or i == 7:
            c = c + 10000
    return c

ARGS = (50,)
