#!/usr/bin/env python3
"""Fails on any include circle between the modules of a source directory.

A module is x.c with x.h; module x depends on y when x.c or x.h has
#include "y.h".  A circle (vault -> files -> render -> plan -> vault) means
no module in it can be understood, tested or linked below the others.

    tests/include-circles.py [DIR]     (default: src)

Prints each circle found and exits 1; prints the module count and exits 0
when there is none.  tests/include-circle/ is a made-up circle that the
test command runs this against, expecting the failure.
"""
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"/]+)\.h"', re.M)


def graph(d):
    deps = {}
    for name in sorted(os.listdir(d)):
        mod, ext = os.path.splitext(name)
        if ext not in (".c", ".h"):
            continue
        with open(os.path.join(d, name), encoding="utf-8") as f:
            found = INCLUDE.findall(f.read())
        deps.setdefault(mod, set()).update(m for m in found if m != mod)
    return deps


def circles(deps):
    """Every circle once, as found by a depth-first walk (back edges)."""
    state, stack, found = {}, [], []

    def walk(m):
        state[m] = 1
        stack.append(m)
        for n in sorted(deps.get(m, ())):
            if state.get(n) == 1:
                found.append(stack[stack.index(n):] + [n])
            elif n not in state:
                walk(n)
        stack.pop()
        state[m] = 2

    for m in sorted(deps):
        if m not in state:
            walk(m)
    return found


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "src"
    deps = graph(d)
    found = circles(deps)
    for c in found:
        print(f"include circle in {d}: " + " -> ".join(c))
    if found:
        print("move what both sides need into a module below them", file=sys.stderr)
        return 1
    print(f"{d}: {len(deps)} modules, no include circle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
