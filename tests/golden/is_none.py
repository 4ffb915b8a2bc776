# Covers: `is None` and `is not` as branches (POP_JUMP_*_IF_NONE, IS_OP): peq/pne of two objects, fused
# into the guard; a None test of an int (never None) needs no guard.
class Node:
    def __init__(self, v, nxt):
        self.v, self.next, self.tag = v, nxt, None


def run(head, marker):
    s = 0
    p = head
    while p is not None:
        if p.tag is not marker:
            s = s + p.v
        p = p.next
    return s


def chain(n):
    head = None
    for k in range(n):
        head = Node(k, head)
    return head


ARGS = (chain(60), object())
