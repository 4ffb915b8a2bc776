# Covers: `break` out of a for loop after the loop is hot (the trace exits at the break).
def run(n):
    s = 0
    for i in range(n):
        if i == 40:
            break
        s = s + i
    return s, i

ARGS = (50,)
