# Covers: ints and floats moved between list slots (opt forward). `a[i], a[j] = a[j], a[i]`: the item stored
# first is the loaded object itself (incref, no new int; its unbox stays for the snapshots that hold it on the
# stack); the second is the other loaded object too: the first store's decref of it is dropped, the trace keeps
# that reference for the second store (forward's take-over; the snapshot between names it `:own`).
# `out.append(f[k])`: the float appended is f's own.
def run(a, f, out, n):
    for k in range(n):
        i = k % 4
        j = 7 - i
        a[i], a[j] = a[j], a[i]
        out.append(f[k % 8])
    return a, out

ARGS = ([2**40 + k for k in range(8)], [k * 0.5 for k in range(8)], [], 60)
