"""A small Dockerfile reader for tests/docker/check.py and builder-chroot.py.

Handles what Dockerfiles here use: parser directives and comments, line
continuations with "\\", JSON (exec) and shell forms, --flags, stages. No
heredocs, no "escape=" directive (both are refused, not misread).
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Instruction:
    keyword: str            # upper case
    flags: dict[str, str]   # --platform=..., --from=..., --chmod=...
    args: str               # the rest, as written (continuations joined)
    line: int               # 1-based line of the keyword
    text: str               # the whole instruction, normalised whitespace

    @property
    def exec_form(self) -> list[str] | None:
        """The JSON array of an exec-form RUN/CMD/ENTRYPOINT, else None."""
        s = self.args.strip()
        if not s.startswith("["):
            return None
        try:
            v = json.loads(s)
        except ValueError:
            return None
        return v if isinstance(v, list) and all(isinstance(x, str) for x in v) else None

    def words(self) -> list[str]:
        return shlex.split(self.args)


@dataclass
class Stage:
    index: int
    base: str                       # image reference or earlier stage name
    name: str | None                # AS name
    platform: str | None
    from_: Instruction
    body: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.body if i.keyword == keyword]


@dataclass
class Dockerfile:
    path: Path
    directives: dict[str, str]
    global_args: list[Instruction]
    stages: list[Stage]
    lines: list[str]

    def stage_text(self, stage: Stage) -> str:
        """The source lines of a stage (FROM to the line before the next FROM),
        comments included, trailing blank lines dropped."""
        start = stage.from_.line - 1
        nxt = [s.from_.line - 1 for s in self.stages if s.index == stage.index + 1]
        end = nxt[0] if nxt else len(self.lines)
        chunk = self.lines[start:end]
        # Comment lines just above the next FROM belong to that stage.
        while chunk and (not chunk[-1].strip() or chunk[-1].lstrip().startswith("#")):
            chunk.pop()
        return "\n".join(chunk)


class ParseError(Exception):
    pass


FLAG = re.compile(r"--([a-z-]+)=(\S+)\s*")


def parse(path: Path) -> Dockerfile:
    text = path.read_text()
    lines = text.split("\n")
    directives: dict[str, str] = {}
    i = 0
    # Parser directives: "# key=value" lines before anything else.
    while i < len(lines):
        m = re.match(r"#\s*([a-zA-Z]+)\s*=\s*(\S+)\s*$", lines[i])
        if not m:
            break
        directives[m.group(1).lower()] = m.group(2)
        i += 1
    if "escape" in directives:
        raise ParseError(f"{path}: the escape directive is not supported here")

    instructions: list[Instruction] = []
    while i < len(lines):
        raw = lines[i]
        s = raw.strip()
        if not s or s.startswith("#"):
            i += 1
            continue
        start = i
        parts = []
        while True:
            cur = lines[i].rstrip()
            if cur.lstrip().startswith("#") and parts:
                i += 1          # comment inside a continuation
                continue
            if cur.endswith("\\"):
                parts.append(cur[:-1])
                i += 1
                if i >= len(lines):
                    raise ParseError(f"{path}:{start + 1}: continuation at end of file")
                continue
            parts.append(cur)
            i += 1
            break
        joined = " ".join(p.strip() for p in parts if p.strip())
        kw, _, rest = joined.partition(" ")
        kw = kw.upper()
        if "<<" in rest and kw in ("RUN", "COPY"):
            raise ParseError(f"{path}:{start + 1}: heredocs are not supported here")
        flags: dict[str, str] = {}
        rest = rest.strip()
        while True:
            m = FLAG.match(rest)
            if not m:
                break
            flags[m.group(1)] = m.group(2)
            rest = rest[m.end():]
        instructions.append(Instruction(kw, flags, rest.strip(), start + 1,
                                        re.sub(r"\s+", " ", joined)))

    global_args: list[Instruction] = []
    stages: list[Stage] = []
    for ins in instructions:
        if ins.keyword == "FROM":
            w = ins.args.split()
            name = None
            if len(w) == 3 and w[1].lower() == "as":
                name = w[2]
            elif len(w) != 1:
                raise ParseError(f"{path}:{ins.line}: cannot read FROM {ins.args}")
            stages.append(Stage(len(stages), w[0], name, ins.flags.get("platform"), ins))
        elif not stages:
            if ins.keyword != "ARG":
                raise ParseError(f"{path}:{ins.line}: {ins.keyword} before the first FROM")
            global_args.append(ins)
        else:
            stages[-1].body.append(ins)
    if not stages:
        raise ParseError(f"{path}: no FROM")
    return Dockerfile(path, directives, global_args, stages, lines)
