# Covers: ZeroDivisionError raised in the loop after it is hot, caught outside the loop.
def run(n):
    s = 0
    try:
        for i in range(n):
            s = s + 1000 // (40 - i)
    except ZeroDivisionError as e:
        return "caught", s, str(e)
    return s

ARGS = (50,)
