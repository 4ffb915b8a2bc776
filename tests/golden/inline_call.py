# Covers: calls to Python functions followed into (inlined) two levels deep: the callee's instructions are
# recorded in the trace, its code guarded (func_code), snapshots inside it carry the inlined frame.
def sq(x):
    return x * x

def helper(x, k):
    t = x + k
    return t + sq(k)

def run(n):
    s = 0
    for i in range(n):
        s = helper(s, i) % 1000003
    return s

ARGS = (50,)
