"""recursive fib: call-heavy code, where the hook's per-call cost shows most (call)."""
import sys

CATEGORY = "call"


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def main(scale):
    print(fib(32 + scale - 1))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
