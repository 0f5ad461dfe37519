#!/usr/bin/env python3
"""Size report for the static vaultexec binary.

  tests/static/size-report.py [BUILD_DIR...] [--target src/vaultexec] [--top N]
                              [--budget SIZE]

Prints the stripped size of BUILD_DIR/<target> (default build-static,
src/vaultexec) and a breakdown of what each library costs.  The breakdown
comes from a GNU ld link map: the script re-runs the target's own link
command (from `ninja -t commands`) with -Wl,-Map added, writing to a
temporary file, so the build directory is left untouched.  Sizes are the
input sections kept by the linker after --gc-sections, i.e. what each
archive actually contributes, not the archive's size.

Several build directories (e.g. build-static build-static-arm64) are
reported one after the other, then side by side.  The architecture is read
from the ELF header; cross builds are stripped with the target's strip
(found through the link command's compiler, e.g. aarch64-linux-gnu-strip).
--budget (bytes, or with a K/KiB/M/MiB suffix) makes the script exit 1 when
a stripped binary is larger.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ALLOC_PREFIXES = (".text", ".rodata", ".data", ".bss", ".tbss", ".tdata", ".init", ".fini",
                  ".got", ".eh_frame", ".gcc_except_table", ".rela", ".dynamic", ".dynsym",
                  ".dynstr", ".hash", ".gnu.hash", ".plt", ".note.gnu.property",
                  ".note.ABI-tag", ".interp", ".preinit_array", ".tm_clone_table")


def component(path: str) -> tuple[str, str]:
    """('libcurl.a', 'http.c.o') style grouping for a map-file input name."""
    m = re.match(r"(.*?)\(([^()]*)\)$", path)
    if m:
        archive, member = m.group(1), m.group(2)
    else:
        archive, member = path, os.path.basename(path)
    base = os.path.basename(archive)
    if base in ("libc.a", "libpthread.a", "libm.a") or "musl" in archive and base.endswith(".a"):
        name = "musl libc"
    elif base.startswith("libgcc"):
        name = "libgcc"
    elif re.match(r"(crt.*|Scrt1|rcrt1|crti|crtn)\.o$", base):
        name = "C runtime (crt*.o)"
    elif base in ("libcurl.a", "libmbedtls.a", "libmbedx509.a", "libmbedcrypto.a", "libcjson.a"):
        name = base
    elif "libvaultexec-static-glue.a" in path:
        # meson's thin archive: the map names its objects, not the archive
        name = "static glue (relro.c, entropy.c)"
    elif base == "libvaultexec.a" or base.endswith(".c.o") or base.endswith(".o"):
        name = "vaultexec"
    elif path.startswith("linker stubs") or not path:
        name = "linker"
    else:
        name = base
    return name, member


def parse_map(text: str):
    """Yield (output_section, input_section, size, input_file) for kept input sections."""
    start = text.find("Linker script and memory map")
    if start < 0:
        raise SystemExit("not a GNU ld map file")
    lines = text[start:].splitlines()
    out_sec = None
    pending = None
    for line in lines:
        if not line.strip():
            pending = None
            continue
        if not line.startswith(" "):
            # output section header: ".text   0x... 0x..." or name alone
            m = re.match(r"(\S+)", line)
            out_sec = m.group(1) if m else None
            pending = None
            continue
        if pending is not None:
            m = re.match(r"\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$", line)
            if m:
                yield out_sec, pending, int(m.group(2), 16), m.group(3).strip()
            pending = None
            continue
        m = re.match(r" (\*fill\*)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)", line)
        if m:
            yield out_sec, "*fill*", int(m.group(3), 16), "alignment padding"
            continue
        m = re.match(r" (\.\S+|COMMON)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$", line)
        if m:
            yield out_sec, m.group(1), int(m.group(3), 16), m.group(4).strip()
            continue
        m = re.match(r" (\.\S+|COMMON)$", line)
        if m:
            pending = m.group(1)


def is_alloc(sec: str | None) -> bool:
    return bool(sec) and sec.startswith(ALLOC_PREFIXES)


def link_command(builddir: Path, target: str) -> list[str]:
    out = subprocess.run(["ninja", "-C", str(builddir), "-t", "commands", target],
                         capture_output=True, text=True, check=True).stdout.strip().splitlines()
    if not out:
        raise SystemExit(f"ninja knows no command for {target}")
    return shlex.split(out[-1])


ELF_MACHINES = {62: "x86_64", 183: "aarch64", 3: "i386", 40: "arm", 243: "riscv64"}


def elf_arch(path: Path) -> str:
    data = path.read_bytes()[:20]
    if data[:4] != b"\x7fELF":
        return "not ELF"
    machine = int.from_bytes(data[18:20], "little" if data[5] == 1 else "big")
    return ELF_MACHINES.get(machine, f"e_machine {machine}")


def strip_candidates(link_cmd: list[str]) -> list[str]:
    """The target's strip first: what the link command's compiler would use
    (gcc -print-prog-name), then <triplet>-strip, then the build machine's."""
    out: list[str] = []
    cc = link_cmd[0]
    try:
        prog = subprocess.run([cc, "-print-prog-name=strip"], capture_output=True, text=True,
                              timeout=30).stdout.strip()
        if prog and os.path.isabs(prog) and os.access(prog, os.X_OK):
            out.append(prog)
    except OSError:
        pass
    m = re.match(r"(.*-)(gcc|cc|clang)(-[0-9.]+)?$", os.path.basename(cc))
    if m and shutil.which(m.group(1) + "strip"):
        out.append(shutil.which(m.group(1) + "strip"))
    if shutil.which("strip"):
        out.append(shutil.which("strip"))
    return out


def strip_copy(candidates: list[str], src: Path, dst: Path) -> str | None:
    """Strip SRC into DST with the first strip that understands it."""
    for strip in candidates:
        shutil.copyfile(src, dst)
        if subprocess.run([strip, "--strip-all", str(dst)], capture_output=True).returncode == 0:
            return strip
    shutil.copyfile(src, dst)
    return None


def parse_size(text: str) -> int:
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(|b|k|kb|kib|m|mb|mib)\s*", text.lower())
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 1048576, 900KiB, 1MiB)")
    mult = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024,
            "m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20}[m.group(2)]
    return int(float(m.group(1)) * mult)


LTRANS = re.compile(r"ltrans[0-9]*\.ltrans\.o$|\.ltrans\.o$")
SECTION_PREFIX = re.compile(r"^\.(text\.startup|text\.unlikely|text\.hot|text|rodata|data\.rel\.ro\.local|data\.rel\.ro|data\.rel\.local|"
                            r"data\.rel|data|bss|tbss|tdata)\.")
CLONE_SUFFIX = re.compile(r"\.(lto_priv|part|constprop|isra|cold|localalias)\b.*$")


def symbol_of(section: str) -> str | None:
    """.text.foo.constprop.0 -> foo; None for anonymous sections (strings, constants)."""
    m = SECTION_PREFIX.match(section)
    if not m:
        return None
    sym = CLONE_SUFFIX.sub("", section[m.end():])
    return None if sym.startswith(("str1", "cst")) or not sym else sym


def lto_owners(entries, cmd: list[str], builddir: Path) -> dict:
    """Who owns what the LTO partitions hold: symbol names from the input
    objects and archives name the source of each
    named section; a partition's anonymous sections (string literals, merged
    constants) go to the source that owns most of its named bytes."""
    # The objects are fat (code besides the LTO data): readelf lists their
    # static functions too (nm would read the LTO symbol table instead).
    where: dict[str, set] = defaultdict(set)
    inputs = [w for w in cmd[1:] if w.endswith((".a", ".o")) and not w.startswith("-")]
    for path in inputs:
        p = subprocess.run(["readelf", "-sW", path], cwd=builddir, capture_output=True, text=True)
        member = os.path.basename(path)
        for line in p.stdout.splitlines():
            m = re.match(r"File: .*[\[(](.*)[\])]$", line)
            if m:
                member = os.path.basename(m.group(1))
                continue
            f = line.split()
            if len(f) == 8 and f[3] in ("FUNC", "OBJECT") and f[6] != "UND":
                where[f[7]].add(component(f"{path}({member})" if path.endswith(".a") else path))
    owner: dict = {}
    votes: dict[str, dict] = defaultdict(lambda: defaultdict(int))
    for out_sec, in_sec, sz, infile in entries:
        if not LTRANS.search(infile) or in_sec == "*fill*":
            continue
        sym = symbol_of(in_sec)
        found = where.get(sym, ()) if sym else ()
        if len({c[0] for c in found}) == 1:
            # one component; the member too if only one defines the name
            comp = next(iter(found)) if len(found) == 1 else (next(iter(found))[0], "")
            owner[(infile, in_sec)] = comp
            votes[infile][comp] += sz
    for infile, v in votes.items():
        owner[infile] = max(v.items(), key=lambda kv: kv[1])[0]
    return owner


def measure(builddir: Path, a: argparse.Namespace, say=print):
    """(arch, stripped size, {component: {kind: bytes}}, {(component, member): bytes})."""
    binary = builddir / a.target
    if not binary.exists():
        subprocess.run(["ninja", "-C", str(builddir), a.target], check=True)
    arch = elf_arch(binary)
    cmd = link_command(builddir, a.target)
    strips = strip_candidates(cmd)

    with tempfile.TemporaryDirectory(prefix="vaultexec-size-") as td:
        td = Path(td)
        stripped = td / "stripped"
        strip = strip_copy(strips, binary, stripped)
        size = stripped.stat().st_size
        say(f"{a.target}: {size} bytes stripped ({size / 1024:.1f} KiB)"
            f"{'' if binary.stat().st_size == size else f', {binary.stat().st_size} as built'}")
        if shutil.which("file"):
            say("file: " + subprocess.run(["file", "-b", str(binary)], capture_output=True,
                                          text=True).stdout.strip())
        if strip is None:
            say(f"(note: no strip tool understands this {arch} binary; size as built)")

        # Relink with a map file.  Under LTO the map names the linker's
        # own partitions, not the archives: one partition per source file
        # (1to1) lets lto_owners() give each partition back to its source.
        i = cmd.index("-o")
        mapfile = td / "link.map"
        lto = any(w.startswith("-flto") and w != "-flto-partition=1to1" for w in cmd)
        cmd = cmd[:i] + ["-o", str(td / "relinked")] + cmd[i + 2:] + [f"-Wl,-Map={mapfile}"]
        if lto:
            cmd.append("-flto-partition=1to1")
        subprocess.run(cmd, cwd=builddir, check=True)
        relinked = td / "relinked"
        if strip:
            subprocess.run([strip, "--strip-all", str(relinked)], check=True)
        if relinked.stat().st_size != size:
            say(f"(note: relinked copy is {relinked.stat().st_size} bytes)")

        per_comp: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        per_obj: dict[tuple[str, str], int] = defaultdict(int)
        entries = list(parse_map(mapfile.read_text(errors="replace")))
        owner = lto_owners(entries, cmd, builddir) if lto else {}
        for out_sec, in_sec, sz, infile in entries:
            if not is_alloc(out_sec) or sz == 0:
                continue
            if in_sec == "*fill*":
                name, member = "alignment padding", ""
            elif out_sec.startswith(".rela"):
                name, member = "relocations (static-pie .rela.dyn)", ""
            elif LTRANS.search(infile):
                name, member = owner.get((infile, in_sec)) or owner.get(infile) or ("LTO, unattributed", "")
            else:
                name, member = component(infile)
            kind = ("bss" if out_sec.startswith((".bss", ".tbss")) or in_sec == "COMMON"
                    else "eh" if out_sec.startswith(".eh_frame") or out_sec == ".gcc_except_table"
                    else "text" if out_sec.startswith((".text", ".init", ".fini", ".plt"))
                    else "rodata" if out_sec.startswith(".rodata")
                    else "data")
            per_comp[name][kind] += sz
            if member and kind != "bss":
                per_obj[(name, member)] += sz
    return arch, size, per_comp, per_obj


def report(builddir: Path, a: argparse.Namespace) -> tuple[str, int]:
    arch, size, per_comp, per_obj = measure(builddir, a)
    rows = sorted(per_comp.items(), key=lambda kv: -sum(v for k, v in kv[1].items() if k != "bss"))
    total_file = sum(v for _, c in rows for k, v in c.items() if k != "bss")
    print()
    print(f"{'component':38} {'text':>8} {'rodata':>8} {'data':>7} {'eh_frame':>8} "
          f"{'in file':>8} {'share':>6} {'bss':>7}")
    for name, c in rows:
        infile = sum(v for k, v in c.items() if k != "bss")
        print(f"{name:38} {c['text']:8} {c['rodata']:8} {c['data']:7} {c['eh']:8} "
              f"{infile:8} {100 * infile / max(total_file, 1):5.1f}% {c['bss']:7}")
    print(f"{'sum of sections':38} {'':8} {'':8} {'':7} {'':8} {total_file:8}")
    print(f"{'headers, section table, page padding':38} {'':8} {'':8} {'':7} {'':8} "
          f"{size - total_file:8}")
    if a.top:
        print(f"\nlargest {a.top} object files (text+rodata+data+eh_frame):")
        for (name, member), sz in sorted(per_obj.items(), key=lambda kv: -kv[1])[:a.top]:
            print(f"  {sz:8}  {name}: {member}")
    return arch, size


# The components the budget is discussed in, in table order.
GROUPS = (("libcurl", ("libcurl.a",)),
          ("Mbed TLS", ("libmbedtls.a", "libmbedx509.a", "libmbedcrypto.a")),
          ("musl libc", ("musl libc",)),
          ("cJSON", ("libcjson.a",)),
          ("vaultexec", ("vaultexec",)),
          ("static-pie relocations", ("relocations (static-pie .rela.dyn)",)))


def components(builddirs: list[str], a: argparse.Namespace) -> None:
    """One Markdown table, a column per build: bytes in the file per
    component (text, rodata, data), vaultexec per module, and the rest."""
    cols = []
    for d in builddirs:
        arch, size, per_comp, per_obj = measure(Path(d).resolve(), a, say=lambda _: None)
        infile = {k: sum(v for kk, v in c.items() if kk != "bss") for k, c in per_comp.items()}
        col = {"stripped file": size}
        for label, names in GROUPS:
            col[label] = sum(infile.get(n, 0) for n in names)
            if label == "Mbed TLS":
                for n in names:
                    col["  " + n] = infile.get(n, 0)
            if label == "vaultexec":
                mods = sorted(((m, sz) for (c, m), sz in per_obj.items() if c == "vaultexec"),
                              key=lambda kv: -kv[1])
                for m, sz in mods:
                    col["  " + m.replace(".c.o", ".c")] = sz
        grouped = {n for _, names in GROUPS for n in names}
        col["other (crt, libgcc, glue, padding, headers)"] = size - sum(
            v for k, v in infile.items() if k in grouped)
        cols.append((arch, col))
    keys = list(dict.fromkeys(k for _, c in cols for k in c))
    keys.remove("stripped file")
    keys.append("stripped file")
    print(f"| {'component (bytes in the stripped file)':44} |"
          + "|".join(f" {arch:>9} " for arch, _ in cols) + "|")
    print("|" + "-" * 46 + "|" + "|".join("-" * 11 for _ in cols) + "|")
    for k in keys:
        print(f"| {k:44} |" + "|".join(f" {c.get(k, 0):9,} " for _, c in cols) + "|")


def budget_only(a: argparse.Namespace) -> int:
    """The stripped size of each build against --budget, one line each."""
    over = False
    for d in a.builddirs:
        builddir = Path(d).resolve()
        binary = builddir / a.target
        with tempfile.TemporaryDirectory(prefix="vaultexec-size-") as td:
            stripped = Path(td) / "stripped"
            if strip_copy(strip_candidates(link_command(builddir, a.target)), binary, stripped) is None:
                print(f"{binary}: no strip tool understands this {elf_arch(binary)} binary")
                return 1
            size = stripped.stat().st_size
        ok = size <= a.budget
        over |= not ok
        print(f"{binary} ({elf_arch(binary)}): {size:,} bytes stripped, budget {a.budget:,}: "
              + (f"{a.budget - size:,} bytes to spare" if ok else
                 f"OVER by {size - a.budget:,} (tests/static/size-report.py {d} shows where)"))
    return 1 if over else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("builddirs", nargs="*", metavar="BUILD_DIR", default=["build-static"])
    ap.add_argument("--target", default="src/vaultexec")
    ap.add_argument("--top", type=int, default=12, help="largest objects to list")
    ap.add_argument("--budget", type=parse_size, default=None,
                    help="largest acceptable stripped size (bytes, or K/KiB/M/MiB); exit 1 above it")
    ap.add_argument("--budget-only", action="store_true",
                    help="with --budget: only the stripped size against it (no link map)")
    ap.add_argument("--components", action="store_true",
                    help="only the per-component table (Markdown), one column per build")
    a = ap.parse_args()
    if a.components:
        components(a.builddirs, a)
        return 0
    if a.budget_only:
        if a.budget is None:
            ap.error("--budget-only needs --budget")
        return budget_only(a)
    results = []
    for n, d in enumerate(a.builddirs):
        if len(a.builddirs) > 1:
            print(f"{'' if n == 0 else chr(10)}== {d}")
        results.append((d, *report(Path(d).resolve(), a)))
    over = [r for r in results if a.budget is not None and r[2] > a.budget]
    if len(results) > 1 or a.budget is not None:
        print(f"\n{'build directory':24} {'arch':8} {'stripped bytes':>14} {'KiB':>8}"
              + (f" {'budget':>8}" if a.budget is not None else ""))
        for d, arch, size in results:
            line = f"{d:24} {arch:8} {size:14} {size / 1024:8.1f}"
            if a.budget is not None:
                line += f" {100 * size / a.budget:7.1f}%" + ("  OVER BUDGET" if size > a.budget else "")
            print(line)
        if a.budget is not None:
            print(f"budget: {a.budget} bytes ({a.budget / 1024:.1f} KiB): "
                  + ("exceeded by " + ", ".join(r[0] for r in over) if over else "all within"))
    return 1 if over else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:
        # the reader (`size-report.py | head -20`, e.g. with PYTHONUNBUFFERED
        # set) has stopped reading: not an error of the report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
