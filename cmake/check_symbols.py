#!/usr/bin/env python3
"""Fails when the extension module has an undefined symbol that neither the interpreter nor one of the
module's own shared libraries defines (CPython 3.11 does not export many internals that its headers
declare: a call to one links fine, then `import` fails with "undefined symbol"). With --static-alloc-ops it also fails when operator new or delete is left undefined:
the module links libstdc++ statically, and one left to the dynamic linker would be libmimalloc's
(python/CMakeLists.txt)."""
import os
import re
import subprocess
import sys


def dynamic_symbols(path, defined):
    flag = "--defined-only" if defined else "--undefined-only"
    out = subprocess.run(["nm", "-D", flag, path], capture_output=True, text=True, check=True).stdout
    syms = set()
    for line in out.splitlines():
        parts = line.split()
        if not parts:
            continue
        kind, name = parts[-2], parts[-1]
        if not defined and kind == "w":
            continue   # weak undefined: allowed to stay unresolved
        syms.add(name.split("@")[0])
    return syms


def needed_libraries(module):
    out = subprocess.run(["ldd", module], capture_output=True, text=True, check=True).stdout
    # "libx.so => /path (addr)" and the dynamic loader's own "/lib64/ld-linux-x86-64.so.2 (addr)"
    return [m.group(1) for m in re.finditer(r"(?:=> |^\s*)(/\S+) \(", out, re.M)]


def main():
    module, interpreter = sys.argv[1], os.path.realpath(sys.argv[2])
    undefined = dynamic_symbols(module, False)
    if "--static-alloc-ops" in sys.argv[3:]:
        ops = sorted(n for n in undefined if re.match(r"_Z(nw|na|dl|da)", n))
        if ops:
            print(f"error: {os.path.basename(module)} leaves operator new/delete to the dynamic linker "
                  f"(libmimalloc's would serve them): {' '.join(ops)}", file=sys.stderr)
            return 1
    provided = dynamic_symbols(interpreter, True)
    for lib in needed_libraries(module):
        provided |= dynamic_symbols(lib, True)
    missing = sorted(undefined - provided)
    if missing:
        print(f"error: {os.path.basename(module)} needs symbols that {interpreter} does not export:", file=sys.stderr)
        for name in missing:
            print("  " + name, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
