# Covers: if/elif/else chain in the loop body; each arm is taken on some iterations.
def run(n):
    s = 0
    for i in range(n):
        if i % 3 == 0:
            s = s + i
        elif i % 3 == 1:
            s = s - 2 * i
        else:
            s = s * 2 % 10007
    return s

ARGS = (50,)
