# Covers: a side exit inside an inlined call: the divisor becomes zero in the callee after the trace is hot;
# the exit re-creates the callee's frame (its CALL re-executed, the frame resumed mid-way) and the
# interpreter raises ZeroDivisionError there; the caller catches it.
def inv(x, k):
    y = x - k
    return 1.0 / y

def run(n):
    s = 0.0
    for i in range(n):
        try:
            s += inv(i * 1.0, 40.0)
        except ZeroDivisionError:
            s += 1000.0
    return s

ARGS = (60,)
