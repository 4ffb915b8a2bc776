# Covers: a call the recorder cannot follow (a closure: its free variable lives in a cell): recording aborts
# with call_python (the expected abort reason is in the .ir).
def make(k):
    def add(x):
        return x + k
    return add

ADD = make(3)

def run(n):
    s = 0
    for i in range(n):
        s = ADD(s)
    return s

ARGS = (50,)
EXPECT_ABORT = True
