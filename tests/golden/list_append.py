# Covers: list.append of ints and floats in the loop.
def run(n):
    out = []
    for i in range(n):
        out.append(i * i)
        out.append(i / 2)
    return out

ARGS = (50,)
