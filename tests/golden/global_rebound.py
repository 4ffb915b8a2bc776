# Covers: a global read in a compiled loop, rebound between runs: the dict-version guard must exit
# and the second run must see the new value. drive() runs the loop hot, rebinds K, runs again.
K = 2

def run(n):
    s = 0
    for i in range(n):
        s = s + K * i
    return s

ARGS = (50,)

def drive(run):
    global K
    first = run(*ARGS)
    K = 5
    second = run(*ARGS)
    K = 2.5
    third = run(*ARGS)
    K = 2
    return first, second, third
