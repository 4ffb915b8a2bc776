# Covers: every int comparison (< <= == != > >=) feeding branches.
def run(n):
    c = 0
    for i in range(n):
        if i < 10:
            c = c + 1
        if i <= 20:
            c = c + 10
        if i == 25:
            c = c + 100
        if i != 30:
            c = c + 1000
        if i > 40:
            c = c + 10000
        if i >= 45:
            c = c + 100000
    return c

ARGS = (50,)
