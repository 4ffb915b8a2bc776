# Covers: a local that is an int on the traced iterations and becomes a float later (type guard exits).
def run(n):
    x = 0
    for i in range(n):
        if i == 30:
            x = x + 0.5
        x = x + i
    return x

ARGS = (50,)
