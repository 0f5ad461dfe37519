#!/usr/bin/env python3
"""The files `docker build` would send as the build context of this tree.

    tests/docker/context.py [--root DIR] list            one path per line
    tests/docker/context.py [--root DIR] copy DEST       copy them to DEST

Applies .dockerignore the way Docker does (moby/patternmatcher, as used by
BuildKit and the classic builder): patterns are cleaned paths relative to
the context root (a leading "/" is dropped); "*", "?" and "[...]" do not
cross "/", "**" matches any number of directories; a pattern that matches a
directory matches everything under it; "!" re-includes; the last matching
pattern wins. Docker sends the working tree, not git's index: untracked
files (a filled subprojects/packagecache/) are in it unless ignored.
Standard library only.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
from pathlib import Path


class Pattern:
    def __init__(self, text: str) -> None:
        self.exclusion = text.startswith("!")
        if self.exclusion:
            text = text[1:].strip()
        text = os.path.normpath(text).lstrip("/") if text else text
        self.text = text
        self.dirs = text.split("/")
        self.regex = re.compile(self._to_regex(text))

    @staticmethod
    def _to_regex(p: str) -> str:
        out = "^"
        i = 0
        while i < len(p):
            c = p[i]
            if c == "*":
                if p.startswith("**", i):
                    i += 1
                    if p.startswith("/", i + 1):  # "**/" : zero or more directories
                        i += 1
                        out += "(.*/)?"
                    else:
                        out += ".*"
                else:
                    out += "[^/]*"
            elif c == "?":
                out += "[^/]"
            elif c == "[":
                j = p.find("]", i + 1)
                if j < 0:
                    out += re.escape(c)
                else:
                    body = p[i + 1:j]
                    if body.startswith("^") or body.startswith("!"):
                        body = "^" + body[1:]
                    out += "[" + body.replace("\\", "\\\\") + "]"
                    i = j
            elif c == "\\" and i + 1 < len(p):
                i += 1
                out += re.escape(p[i])
            else:
                out += re.escape(c)
            i += 1
        return out + "$"

    def match(self, path: str) -> bool:
        if self.regex.match(path):
            return True
        # A pattern that matches a parent directory matches its contents.
        parts = path.split("/")
        if len(parts) > 1 and len(self.dirs) < len(parts):
            return bool(self.regex.match("/".join(parts[:len(self.dirs)])))
        return False


def read_patterns(root: Path) -> list[Pattern]:
    f = root / ".dockerignore"
    if not f.exists():
        return []
    pats = []
    for line in f.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        pats.append(Pattern(line))
    return pats


def excluded(path: str, patterns: list[Pattern]) -> bool:
    matched = False
    for p in patterns:
        if p.match(path):
            matched = not p.exclusion
    return matched


def context_files(root: Path) -> list[str]:
    patterns = read_patterns(root)
    has_exceptions = any(p.exclusion for p in patterns)
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        # An excluded directory is skipped unless an exception pattern
        # starts with its path (Docker's walker does the same).
        keep = []
        for d in sorted(dirnames):
            rel = rel_dir + d
            if excluded(rel, patterns) and not (
                    has_exceptions and any(p.exclusion and (p.text + "/").startswith(rel + "/")
                                           for p in patterns)):
                continue
            keep.append(d)
        dirnames[:] = keep
        for f in sorted(filenames):
            rel = rel_dir + f
            if not excluded(rel, patterns):
                files.append(rel)
    return sorted(files)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=str(Path(__file__).resolve().parents[2]))
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list")
    cp = sub.add_parser("copy")
    cp.add_argument("dest")
    a = ap.parse_args()
    root = Path(a.root)
    files = context_files(root)
    if a.cmd == "list":
        sys.stdout.write("".join(f + "\n" for f in files))
        return 0
    dest = Path(a.dest)
    for f in files:
        target = dest / f
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / f, target, follow_symlinks=False)
    print(f"{len(files)} files copied to {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
