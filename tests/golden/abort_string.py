# Covers: a loop on strings (unsupported): recording aborts, the result is still right.
def run(n):
    out = ""
    for i in range(n):
        out = out + "ab"[i % 2]
    return out

ARGS = (50,)
EXPECT_ABORT = True
