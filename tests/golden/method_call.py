# Covers: method calls on instances of a user class (LOAD_METHOD finds a plain function in the class: type,
# type version and "not shadowed on the instance" guarded), the method followed into (inlined) with self
# as its first argument; attribute loads and stores inside it.
class V:
    def __init__(self, x, y):
        self.x = x
        self.y = y

    def dot(self, o):
        return self.x * o.x + self.y * o.y

    def scale(self, k):
        self.x = self.x * k


def run(n):
    a = V(0.5, 2.0)
    b = V(1.5, -1.0)
    s = 0.0
    for i in range(n):
        s += a.dot(b)
        b.scale(1.0)
    return s

ARGS = (60,)
