# Covers: floats updated in place in list slots (store_fitem) while other slots of the same lists are only
# read. A constant-index slot no store of the loop writes is loaded and unboxed once, before `loop` (b[0],
# b[1]); the slot stored to (b[2]) and every slot of the list reached through a varying index (c) are loaded
# in each iteration. c is b itself every third iteration: its c[2] store is b[2]'s.
def run(b, ps, n):
    for k in range(n):
        c = ps[k % 3]
        d = b[0] - c[0]
        b[2] += d * c[1]
        c[2] -= d * b[1]
    return b, ps

B = [1.0, 0.5, 0.0]
ARGS = (B, [[2.0, 0.25, 0.0], B, [3.0, -1.0, 0.0]], 60)
