# Covers: reading module globals (int and float) inside the loop (guarded by the globals' dict version).
SCALE = 3
OFFSET = 0.5

def run(n):
    f = 0.0
    for i in range(n):
        f = f + i * SCALE + OFFSET
    return f

ARGS = (50,)
