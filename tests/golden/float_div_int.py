# Covers: a float divided by an int (converted exactly): the divisor's zero check is the int's own compare
# (fne (i2f x) 0.0 folds to ne x 0).
def run(n):
    s = 0.0
    for i in range(n):
        s = s + 1.0 / (i * 3 - 200)
    return s

ARGS = (60,)
