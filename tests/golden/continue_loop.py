# Covers: `continue` (a second back-edge path in the body).
def run(n):
    s = 0
    for i in range(n):
        if i % 3 == 0:
            continue
        s = s + i
    return s

ARGS = (50,)
