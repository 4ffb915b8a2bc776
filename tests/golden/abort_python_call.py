# Covers: a loop that calls a Python function: recording aborts (expected abort reason in the .ir).
def helper(x):
    return x + 1

def run(n):
    s = 0
    for i in range(n):
        s = helper(s)
    return s

ARGS = (50,)
EXPECT_ABORT = True
