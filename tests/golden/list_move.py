# Covers: ints and floats moved between list slots (opt forward). `a[i], a[j] = a[j], a[i]`: the item stored
# first is the loaded object itself (incref, no new int); the second is the other loaded object too: the first
# store's decref of it is dropped, the trace keeps that reference for the second store (forward's take-over;
# the snapshot between names it `:own`). Neither is unboxed: the snapshots that hold them on the stack name
# the objects as the numbers' (`:i64`), which an exit hands the frame as they are. `out.append(f[k])`: the
# float appended is f's own (its unbox stays: the snapshot after the append, where f's slot may have let
# it go, holds the number).
def run(a, f, out, n):
    for k in range(n):
        i = k % 4
        j = 7 - i
        a[i], a[j] = a[j], a[i]
        out.append(f[k % 8])
    return a, out

ARGS = ([2**40 + k for k in range(8)], [k * 0.5 for k in range(8)], [], 60)
