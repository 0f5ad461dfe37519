#!/usr/bin/env python3
"""Checks of the Dockerfiles that no linter knows (tests/docker/check.sh runs it).

    tests/docker/check.py [--vaultexec BIN]

Dockerfile.scratch and Dockerfile.alpine:
  - two stages: a builder `FROM --platform=$BUILDPLATFORM debian:12[-slim] AS
    build` and the final one (scratch / alpine:X.Y);
  - the builder stages of both files are identical, declare ARG TARGETARCH,
    and every RUN in them is one of the two shared scripts with
    "$TARGETARCH": tests/docker/install-build-deps.sh, and
    tests/docker/build-static.sh with --test (the same script, commands and
    tests as CI); COPY takes only that install script and the context;
  - the final stage has no RUN (building it for another platform needs no
    emulation), copies only from the builder: /vaultexec (from the --out
    directory of build-static.sh) and, for scratch, the CA bundle to
    /etc/ssl/certs/ca-certificates.crt; USER is numeric and not root;
    ENTRYPOINT ["/vaultexec"] (exec form);
  - every COPY source is in the build context (.dockerignore applied the
    way Docker applies it), and the context holds the build's sources but
    no build directory, .git or cache.
Every Dockerfile here (also examples/*/Dockerfile):
  - base images have an explicit version tag or digest (no :latest, no
    untagged image, no variable);
  - ENTRYPOINT and CMD in exec form; no ADD; no secret in ENV, ARG or LABEL
    (names like *TOKEN*, *SECRET*, *PASSWORD*, *_KEY with a value; values
    that look like Vault tokens or PEM keys).
examples/distroless-mongodb/Dockerfile:
  - percona/mongodb_exporter:<version> plus exactly two instructions:
    COPY --from=vaultexec /vaultexec /vaultexec and an ENTRYPOINT
    ["/vaultexec", ..., "--", "/mongodb_exporter"];
  - with --vaultexec BIN: that ENTRYPOINT's options are accepted by the
    binary (run against a closed port, it must stop at "Vault unreachable",
    69, not at a usage error, 64).
CI:
  - tests/run-all.sh (what .ci/run runs) builds the amd64 binary, and
    tests/arm64/run.sh (when run-all.sh runs it) the arm64 one, with
    tests/docker/build-static.sh; no script, compose file or Dockerfile
    here sets up a static build (`meson setup ... -Dstatic=true`) with
    commands of its own.

Exit 1 on any failure; prints one line per check.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import context  # noqa: E402
import dockerfile  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
fails = 0


def check(ok: bool, what: str, detail: str = "") -> bool:
    global fails
    print(f"  {'ok  ' if ok else 'FAIL'} {what}" + (f"\n         {detail}" if detail and not ok else ""))
    if not ok:
        fails += 1
    return ok


# ------------------------------------------------------------------ common --

SECRET_NAME = re.compile(r"(TOKEN|SECRET|PASSW(OR)?D|PASSPHRASE|PRIVATE|(^|_)KEY$|CREDENTIAL)", re.I)
SECRET_VALUE = re.compile(r"(\bhv[sbr]\.[A-Za-z0-9_-]{20,}|\bs\.[A-Za-z0-9]{24}\b|-----BEGIN [A-Z ]*PRIVATE KEY-----"
                          r"|\bAKIA[0-9A-Z]{16}\b|\bgh[pousr]_[A-Za-z0-9]{30,})")
# Names that hold a path or an address, not the secret itself.
SECRET_NAME_OK = re.compile(r"(_FILE|_PATH|_DIR|_ADDR|_MOUNT|_SINK)$", re.I)


def kv_pairs(ins: dockerfile.Instruction) -> list[tuple[str, str]]:
    words = ins.words()
    if ins.keyword in ("ENV", "LABEL") and len(words) >= 2 and "=" not in words[0]:
        return [(words[0], " ".join(words[1:]))]   # legacy "ENV NAME value"
    out = []
    for w in words:
        k, eq, v = w.partition("=")
        out.append((k, v if eq else ""))
    return out


def common_checks(df: dockerfile.Dockerfile) -> None:
    names = {s.name for s in df.stages if s.name}
    defaults = {}
    for ins in df.global_args:
        k, eq, v = ins.args.strip().partition("=")
        defaults[k] = v.strip('"') if eq else ""
    for s in df.stages:
        # FROM ${NAME}: the global ARG's default, as Docker resolves it.
        base = re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: defaults.get(m.group(1), m.group(0)), s.base)
        if base == "scratch" or base in names:
            continue
        if "$" in base and s.platform is None:
            check(False, f"FROM {s.base}: pinned", "a variable without a default cannot be checked")
            continue
        ref = base.split("@")[0]
        last = ref.rsplit("/", 1)[-1]
        tag = last.split(":", 1)[1] if ":" in last else ""
        pinned = "@sha256:" in base or (tag not in ("", "latest"))
        check(pinned, f"FROM {base}: version tag or digest", "write an explicit version tag (no :latest)")
    for ins in df.global_args + [i for s in df.stages for i in s.body]:
        if ins.keyword == "ADD":
            check(False, f"line {ins.line}: no ADD", "use COPY")
        if ins.keyword in ("ENTRYPOINT", "CMD"):
            check(ins.exec_form is not None, f"line {ins.line}: {ins.keyword} in exec form (JSON array)")
        if ins.keyword in ("ENV", "ARG", "LABEL"):
            for k, v in kv_pairs(ins):
                if ins.keyword != "LABEL" and SECRET_NAME.search(k) and not SECRET_NAME_OK.search(k):
                    check(v == "", f"line {ins.line}: {ins.keyword} {k} carries no secret",
                          "a secret in ENV/ARG stays in the image's history; pass it at run time")
                if SECRET_VALUE.search(v):
                    check(False, f"line {ins.line}: {ins.keyword} {k} carries no secret",
                          "the value looks like a token or a private key")


# ------------------------------------------------- Dockerfile.{scratch,alpine} --

INSTALL = "tests/docker/install-build-deps.sh"
BUILD = "tests/docker/build-static.sh"


def builder_checks(df: dockerfile.Dockerfile, final_base: re.Pattern[str], ctx: set[str]) -> str | None:
    """Returns the --out directory of the build RUN (for the final stage)."""
    if not check(len(df.stages) == 2, f"two stages (builder + final), found {len(df.stages)}"):
        return None
    b, f = df.stages
    check(b.name == "build", "builder stage is named 'build'")
    check(b.platform == "$BUILDPLATFORM", "builder: FROM --platform=$BUILDPLATFORM (cross-compiles, no emulated build)")
    check(re.fullmatch(r"debian:12(\.\d+)?(-slim)?(@sha256:[0-9a-f]{64})?", b.base) is not None,
          f"builder: FROM {b.base} is Debian 12 (the system CI runs on)")
    check(any(i.keyword == "ARG" and i.args.split("=")[0] == "TARGETARCH" for i in b.body),
          "builder: ARG TARGETARCH")
    out_dir = None
    runs = b.all("RUN")
    saw_install = saw_build = False
    for r in runs:
        w = r.exec_form or r.words()
        arch_ok = bool(w) and w[-1] == "$TARGETARCH" and '"$TARGETARCH"' in r.args
        prog = w[0] if w else ""
        if prog in (INSTALL, "install-build-deps.sh", "/usr/local/bin/install-build-deps.sh"):
            saw_install = True
            check(len(w) == 2 and arch_ok, f"line {r.line}: RUN {INSTALL.rsplit('/', 1)[1]} \"$TARGETARCH\"",
                  f"found: {r.text}")
        elif prog == BUILD:
            saw_build = True
            opts = w[1:-1]
            ok = arch_ok and "--test" in opts
            j = 0
            while j < len(opts):
                if opts[j] == "--out" and j + 1 < len(opts):
                    out_dir = opts[j + 1]
                    j += 2
                elif opts[j] == "--test":
                    j += 1
                else:
                    ok = False
                    break
            check(ok, f"line {r.line}: RUN {BUILD} --test [--out DIR] \"$TARGETARCH\" (the CI recipe and its tests)",
                  f"found: {r.text}")
        else:
            check(False, f"line {r.line}: RUN calls one of the shared scripts",
                  f"found: {r.text}\n         every command of the builder must be in {INSTALL} or {BUILD}, which CI runs too")
        check(not any(c in r.args for c in ("&&", ";", "|", "||", "`", "$(")),
              f"line {r.line}: RUN is a single command (nothing added around the shared script)")
    check(saw_install, f"builder: RUN {INSTALL}")
    check(saw_build, f"builder: RUN {BUILD}")
    for c in b.all("COPY"):
        w = c.words()
        srcs = w[:-1]
        check("from" not in c.flags and all(s in (".", INSTALL) for s in srcs),
              f"line {c.line}: builder COPY takes the install script or the whole context", c.text)
        for s in srcs:
            if s != ".":
                check(s in ctx, f"line {c.line}: COPY source {s} is in the build context (.dockerignore)")
    check(out_dir is not None, f"builder: {BUILD} --out DIR (where the final stage copies from)")

    # Final stage
    check(final_base.fullmatch(f.base) is not None, f"final stage: FROM {f.base}")
    check(f.platform is None, "final stage: for the target platform (no --platform)")
    check(not f.all("RUN"), "final stage: no RUN (nothing to emulate for another platform)")
    allowed = {"COPY", "USER", "ENTRYPOINT", "CMD", "LABEL", "ENV", "EXPOSE", "WORKDIR", "STOPSIGNAL"}
    bad = [f"line {i.line}: {i.keyword}" for i in f.body if i.keyword not in allowed]
    check(not bad, f"final stage: only {', '.join(sorted(allowed))}", f"found: {bad}")
    copies = []
    for c in f.all("COPY"):
        w = c.words()
        copies.append((c.flags.get("from"), tuple(w)))
    # The builder's --out directory holds vaultexec and the vault-env symlink;
    # it is copied as a directory so that the link stays a link.
    want = [("build", (f"{out_dir}/", "/"))]
    if f.base == "scratch":
        want.append(("build", ("/etc/ssl/certs/ca-certificates.crt", "/etc/ssl/certs/ca-certificates.crt")))
        check(sorted(copies) == sorted(want),
              "final stage (scratch): COPY --from=build of the --out directory (/vaultexec, "
              "/vault-env) and the CA bundle, nothing else", f"found: {copies}")
    else:
        check(want[0] in copies and all(fr == "build" and src == f"{out_dir}/" for fr, (src, *_ ) in copies),
              "final stage: COPY --from=build of the --out directory (and only of it)", f"found: {copies}")
    users = f.all("USER")
    u = users[-1].args.strip() if users else ""
    uid = u.split(":")[0]
    check(bool(users), "final stage: USER set")
    if users:
        check(uid.isdigit() and uid != "0" and (":" not in u or u.split(":")[1].isdigit()),
              f"final stage: USER {u} is numeric uid:gid, not root (scratch has no /etc/passwd)")
    eps = f.all("ENTRYPOINT")
    check(bool(eps) and eps[-1].exec_form == ["/vaultexec"], 'final stage: ENTRYPOINT ["/vaultexec"]')
    return out_dir


def context_checks(ctx: set[str]) -> None:
    # Build directories, present or not here: a synthetic path for each.
    pats = context.read_patterns(ROOT)
    dirs = sorted({"build", "build-static", "build-static-arm64"} |
                  {p.name for p in ROOT.iterdir() if p.is_dir() and p.name.startswith("build")})
    sent = [d for d in dirs if not context.excluded(f"{d}/build.ninja", pats)]
    check(not sent, f".dockerignore excludes the build directories ({', '.join(dirs)})", f"sent: {sent}")
    for p in [".git/config", ".pytest_cache/x", "src/__pycache__/x.pyc", "subprojects/curl-8.14.1/README"]:
        check(context.excluded(p, pats), f".dockerignore excludes {p}")
    need = ["meson.build", "meson.options", "src/meson.build", "tests/unit/meson.build",
            "tests/static/meson.build", "subprojects/musl-x86_64.ini", "subprojects/musl-aarch64.ini",
            "subprojects/curl.wrap", "subprojects/mbedtls.wrap", "subprojects/cjson.wrap",
            "subprojects/static/meson.build", "subprojects/static/deps.py", INSTALL, BUILD,
            "tests/docker/runs-natively.ini", "tests/docker/x86_64-cross.ini"]
    # Every file the build reads lives in these trees: all of them must be sent.
    for tree in ["src", "subprojects/static", "tests/unit", "tests/static", "tests/docker", "doc"]:
        for p in sorted((ROOT / tree).rglob("*")):
            if p.is_file() and "__pycache__" not in p.parts:
                need.append(str(p.relative_to(ROOT)))
    for p in sorted((ROOT / "subprojects" / "packagecache").glob("*")):
        need.append(str(p.relative_to(ROOT)))
    missing = [p for p in need if p not in ctx]
    check(not missing, f"build context holds the {len(set(need))} files the build uses", f"missing: {missing}")
    for p in [INSTALL, BUILD]:
        check(os.access(ROOT / p, os.X_OK), f"{p} is executable (the Dockerfiles run it directly)")


# ---------------------------------------------------------------- example --

def example_checks(path: Path, binary: str | None) -> None:
    df = dockerfile.parse(path)
    common_checks(df)
    if not check(len(df.stages) == 1, f"{path.name}: one stage"):
        return
    s = df.stages[0]
    m = re.fullmatch(r"percona/mongodb_exporter:(\d+\.\d+\.\d+)", s.base)
    check(m is not None, f"FROM {s.base}: percona/mongodb_exporter with a version tag (x.y.z)")
    check([i.keyword for i in s.body] == ["COPY", "ENTRYPOINT"],
          "two instructions on top of the exporter's image: COPY, ENTRYPOINT",
          f"found: {[i.keyword for i in s.body]}")
    copies = s.all("COPY")
    check(len(copies) == 1 and copies[0].flags.get("from") == "vaultexec"
          and copies[0].words() == ["/vaultexec", "/vaultexec"],
          "COPY --from=vaultexec /vaultexec /vaultexec")
    eps = s.all("ENTRYPOINT")
    ep = eps[0].exec_form if eps else None
    ok = bool(ep) and ep[0] == "/vaultexec" and "--" in ep and ep[ep.index("--") + 1:] == ["/mongodb_exporter"]
    check(ok, 'ENTRYPOINT ["/vaultexec", ..., "--", "/mongodb_exporter"]', f"found: {ep}")
    if not ok or not binary:
        return
    # The options, run by the real binary with the exporter replaced by
    # /bin/true and Vault at a closed port: past option and template
    # parsing it must stop at "Vault unreachable" (69), not at 64.
    argv = [binary] + ep[1:ep.index("--")] + ["--", "/bin/true"]
    env = {"PATH": "/usr/bin:/bin", "VAULTEXEC_ADDR": "http://127.0.0.1:9", "VAULTEXEC_WAIT": "0",
           "VAULT_TOKEN": "not-a-token"}
    p = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    check(p.returncode == 69, f"{binary} accepts the ENTRYPOINT's options (exit {p.returncode}, want 69: Vault unreachable)",
          (p.stderr or p.stdout).strip()[:300])


# -------------------------------------------------------------------- CI --

def own_static_recipes() -> list[str]:
    """Places that set up a static build with commands of their own."""
    files = [ROOT / ".ci" / "run"]
    for pat in ["tests/**/*.sh", "examples/**/*.yml", "examples/**/*.yaml", "examples/**/Dockerfile*", "Dockerfile*"]:
        files += sorted(ROOT.glob(pat))
    found = []
    for f in files:
        if not f.is_file() or f == ROOT / BUILD:
            continue
        lines = f.read_text(errors="replace").split("\n")
        i = 0
        while i < len(lines):
            start, cmd = i, lines[i]
            while cmd.rstrip().endswith("\\") and i + 1 < len(lines):   # continuation lines
                i += 1
                cmd = cmd.rstrip()[:-1] + " " + lines[i]
            i += 1
            if cmd.lstrip().startswith("#"):
                continue
            if re.search(r"\bmeson\b.*\bsetup\b.*-Dstatic=true", cmd):
                found.append(f"{f.relative_to(ROOT)}:{start + 1}: {' '.join(cmd.split())[:110]}")
    return found


def ci_checks() -> None:
    def code(path: Path) -> str:
        if not path.exists():
            return ""
        return "\n".join(ln for ln in path.read_text().splitlines() if not ln.lstrip().startswith("#"))
    ci = code(ROOT / ".ci" / "run")
    run_all = code(ROOT / "tests" / "run-all.sh")
    check("tests/run-all.sh" in ci, ".ci/run runs tests/run-all.sh")
    check(re.search(re.escape(BUILD) + r"[^\n]*\bamd64\b", run_all) is not None,
          f"tests/run-all.sh builds the amd64 binary with {BUILD} ... amd64")
    if "tests/arm64/run.sh" in run_all:
        arm = code(ROOT / "tests" / "arm64" / "run.sh")
        check(re.search(re.escape(BUILD) + r"[^\n]*\barm64\b", arm) is not None,
              f"tests/arm64/run.sh (run by tests/run-all.sh) builds the arm64 binary with {BUILD} ... arm64")
    own = own_static_recipes()
    check(not own, f"no static build with commands of its own (the one recipe is {BUILD})",
          "\n         ".join(own))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vaultexec", help="a vaultexec binary to run the example's ENTRYPOINT options with")
    a = ap.parse_args()
    ctx = set(context.context_files(ROOT))

    print("== .dockerignore / build context")
    context_checks(ctx)
    outs = {}
    for name, base in [("Dockerfile.scratch", r"scratch"), ("Dockerfile.alpine", r"alpine:3\.\d+(\.\d+)?")]:
        print(f"== {name}")
        try:
            df = dockerfile.parse(ROOT / name)
        except (OSError, dockerfile.ParseError) as e:
            check(False, f"{name} parses", str(e))
            continue
        # A "# syntax=" line makes BuildKit pull a frontend image from a
        # registry; the built-in frontend (Docker >= 20.10 with BuildKit)
        # handles --platform=$BUILDPLATFORM and TARGETARCH itself.
        check("syntax" not in df.directives,
              "no # syntax= line (the built-in BuildKit frontend builds it, no frontend image is pulled)")
        common_checks(df)
        builder_checks(df, re.compile(base), ctx)
        outs[name] = df
    if len(outs) == 2:
        a_df, b_df = outs["Dockerfile.scratch"], outs["Dockerfile.alpine"]
        ta, tb = a_df.stage_text(a_df.stages[0]), b_df.stage_text(b_df.stages[0])
        print("== both")
        check(ta == tb, "the builder stages of Dockerfile.scratch and Dockerfile.alpine are identical")
    ex = ROOT / "examples" / "distroless-mongodb" / "Dockerfile"
    print(f"== {ex.relative_to(ROOT)}")
    try:
        example_checks(ex, a.vaultexec)
    except (OSError, dockerfile.ParseError) as e:
        check(False, f"{ex.name} parses", str(e))
    for other in sorted(ROOT.glob("examples/*/Dockerfile")):
        if other == ex:
            continue
        print(f"== {other.relative_to(ROOT)}")
        try:
            common_checks(dockerfile.parse(other))
        except (OSError, dockerfile.ParseError) as e:
            check(False, f"{other} parses", str(e))
    print("== CI runs the same recipe")
    ci_checks()
    print(f"-- {fails} failed" if fails else "-- all passed")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
