#!/usr/bin/env python3
"""Fetch, verify and build vaultexec's pinned static dependencies.

Pins live in the Meson wrap files next to this directory
(subprojects/mbedtls.wrap, curl.wrap, cjson.wrap): source_filename and
source_hash (SHA-256).  Every tarball is checked against its pin before it is
used; a mismatch stops the build.

Sub-commands (meson calls them; they also work by hand, e.g. from a
Dockerfile):

  fetch  Make sure every pinned tarball is in subprojects/packagecache/.
         Order: the file already there -> the wrap's upstream source_url ->
         the Debian source package named in the wrap's [debian-fallback]
         section, fetched with apt from a private apt state directory (the
         machine's own apt configuration is not touched).
  build  Verify again, unpack, apply subprojects/static/patches/<dep>/ and
         build mbedtls, libcurl (CMake) and cJSON into a private prefix with
         the compiler from meson's native/cross file.  Outputs the static
         archives plus a generated header into --outdir.
  probe  Print 'static-pie', 'static' or 'none': what the compiler can link.

Only the Python standard library, cmake, ninja (or make), patch and, for the
Debian fallback, apt are needed.
"""

from __future__ import annotations

import argparse
import configparser
import hashlib
import json
import os
import re
import shlex
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path

# Bump when the build recipe below changes in a way that needs a rebuild.
RECIPE_VERSION = "1"

HERE = Path(__file__).resolve().parent
DEPS = ("mbedtls", "curl", "cjson")  # build order
DEBIAN_MIRROR = "http://deb.debian.org/debian"
DEBIAN_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


class Fail(Exception):
    pass


def log(msg: str) -> None:
    print(f"[static-deps] {msg}", flush=True)


# --------------------------------------------------------------------------
# Pins
# --------------------------------------------------------------------------

class Pin:
    def __init__(self, name: str, wrap: Path):
        cp = configparser.ConfigParser(interpolation=None)
        if not cp.read(wrap, encoding="utf-8"):
            raise Fail(f"cannot read {wrap}")
        w = cp["wrap-file"]
        self.name = name
        self.wrap = wrap
        self.directory = w["directory"]
        self.url = w.get("source_url", "")
        self.filename = w["source_filename"]
        self.sha256 = w["source_hash"].strip().lower()
        if not re.fullmatch(r"[0-9a-f]{64}", self.sha256):
            raise Fail(f"{wrap}: source_hash is not a SHA-256")
        d = cp["debian-fallback"] if cp.has_section("debian-fallback") else {}
        self.deb_package = d.get("package")
        self.deb_orig = d.get("orig")
        self.deb_suite = d.get("suite", "trixie")
        self.version = self.directory.rsplit("-", 1)[-1]


def load_pins(subprojects: Path) -> dict[str, Pin]:
    return {n: Pin(n, subprojects / f"{n}.wrap") for n in DEPS}


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify(pin: Pin, path: Path) -> None:
    got = sha256_of(path)
    if got != pin.sha256:
        raise Fail(
            f"SHA-256 mismatch for {path}\n"
            f"  expected {pin.sha256} (pinned in {pin.wrap.name})\n"
            f"  got      {got}\n"
            f"Refusing to use it. Delete the file to fetch it again, or update "
            f"the pin only after checking the new tarball's provenance.")


# --------------------------------------------------------------------------
# fetch
# --------------------------------------------------------------------------

def fetch_upstream(pin: Pin, dest: Path) -> str | None:
    if not pin.url:
        return "no source_url"
    tmp = dest.with_name(dest.name + ".part")
    try:
        req = urllib.request.Request(pin.url, headers={"User-Agent": "vaultexec-static-deps"})
        with urllib.request.urlopen(req, timeout=30) as r, open(tmp, "wb") as f:
            shutil.copyfileobj(r, f)
    except Exception as e:  # network errors of every kind
        tmp.unlink(missing_ok=True)
        return f"{type(e).__name__}: {e}"
    try:
        verify(pin, tmp)
    except Fail:
        tmp.unlink(missing_ok=True)
        raise
    tmp.rename(dest)
    return None


class PrivateApt:
    """apt with its own sources list, lists and cache: /etc/apt stays as is."""

    def __init__(self, root: Path, suite: str):
        self.root = root
        for d in ("lists/partial", "cache/archives/partial", "sources.list.d"):
            (root / d).mkdir(parents=True, exist_ok=True)
        keyring = DEBIAN_KEYRING
        if not os.path.exists(keyring):
            raise Fail(f"{keyring} is missing (apt package debian-archive-keyring)")
        (root / "sources.list").write_text(
            f"deb-src [signed-by={keyring}] {DEBIAN_MIRROR} {suite} main\n")
        self.opts = [
            "-o", f"Dir::Etc::SourceList={root / 'sources.list'}",
            "-o", f"Dir::Etc::SourceParts={root / 'sources.list.d'}",
            "-o", f"Dir::State::Lists={root / 'lists'}",
            "-o", f"Dir::Cache={root / 'cache'}",
            "-o", "Dir::Cache::pkgcache=",
            "-o", "Dir::Cache::srcpkgcache=",
            "-o", "APT::Sandbox::User=root" if os.geteuid() == 0 else "Debug::NoLocking=1",
        ]
        self.updated = False

    def run(self, *args: str) -> str:
        cmd = ["apt-get", "-q", *self.opts, *args]
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if p.returncode != 0:
            raise Fail(f"{shlex.join(cmd)} failed:\n{p.stdout}")
        return p.stdout

    def update(self) -> None:
        if not self.updated:
            log(f"apt-get update (private state in {self.root})")
            self.run("update")
            self.updated = True

    def source_uris(self, package: str) -> list[tuple[str, str, str]]:
        out = self.run("--print-uris", "source", package)
        res = []
        for line in out.splitlines():
            m = re.match(r"'([^']+)'\s+(\S+)\s+\d+\s+SHA256:([0-9a-f]{64})", line)
            if m:
                res.append((m.group(1), m.group(2), m.group(3)))
        return res


_APTS: dict[str, PrivateApt] = {}


def fetch_debian(pin: Pin, dest: Path, aptroot: Path) -> str | None:
    if not (pin.deb_package and pin.deb_orig):
        return "no [debian-fallback] section"
    if not shutil.which("apt-get"):
        return "apt-get not available"
    if pin.deb_suite not in _APTS:
        _APTS[pin.deb_suite] = PrivateApt(aptroot / pin.deb_suite, pin.deb_suite)
    apt = _APTS[pin.deb_suite]
    apt.update()
    uris = apt.source_uris(pin.deb_package)
    match = [u for u in uris if u[1] == pin.deb_orig]
    if not match:
        return (f"Debian {pin.deb_suite} no longer lists {pin.deb_orig} for source package "
                f"{pin.deb_package} (offers: {', '.join(u[1] for u in uris) or 'nothing'})")
    uri, _, deb_sha = match[0]
    if deb_sha != pin.sha256:
        raise Fail(f"Debian's {pin.deb_orig} has SHA-256 {deb_sha}, pin is {pin.sha256}: refusing")
    tmp = dest.with_name(dest.name + ".part")
    tmp.unlink(missing_ok=True)
    helper = "/usr/lib/apt/apt-helper"
    log(f"fetching {uri}")
    if os.access(helper, os.X_OK):
        cmd = [helper, *apt.opts, "download-file", uri, str(tmp), f"SHA256:{pin.sha256}"]
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if p.returncode != 0:
            tmp.unlink(missing_ok=True)
            return f"apt-helper download-file failed: {p.stdout.strip()}"
    else:
        with tempfile.TemporaryDirectory() as td:
            p = subprocess.run(["apt-get", "-q", *apt.opts, "source", "--download-only",
                                pin.deb_package], cwd=td, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
            got = Path(td) / pin.deb_orig
            if not got.exists():
                return f"apt-get source failed: {p.stdout.strip()}"
            shutil.move(str(got), tmp)
    try:
        verify(pin, tmp)
    except Fail:
        tmp.unlink(missing_ok=True)
        raise
    tmp.rename(dest)
    return None


def cmd_fetch(a: argparse.Namespace) -> None:
    subprojects = Path(a.subprojects_dir).resolve()
    cache = subprojects / "packagecache"
    cache.mkdir(parents=True, exist_ok=True)
    for pin in load_pins(subprojects).values():
        dest = cache / pin.filename
        if dest.exists():
            verify(pin, dest)
            log(f"{pin.filename}: present, SHA-256 ok")
            continue
        if a.offline:
            raise Fail(f"{dest} is missing and downloads are disabled (wrap_mode=nodownload).\n"
                       f"Put the file there (SHA-256 {pin.sha256}) or run:\n"
                       f"  python3 {__file__} fetch")
        tried = []
        err = fetch_upstream(pin, dest)
        if err is None:
            log(f"{pin.filename}: downloaded from {pin.url}, SHA-256 ok")
            continue
        tried.append(f"upstream {pin.url}: {err}")
        log(f"{pin.filename}: upstream unreachable ({err}); trying Debian {pin.deb_suite}")
        err = fetch_debian(pin, dest, Path(a.work_dir).resolve() / "apt")
        if err is None:
            log(f"{pin.filename}: taken from Debian {pin.deb_suite} ({pin.deb_orig}), SHA-256 ok")
            continue
        tried.append(f"Debian {pin.deb_suite} source package {pin.deb_package}: {err}")
        raise Fail(f"could not fetch {pin.filename}:\n  " + "\n  ".join(tried) +
                   f"\nPlace a copy with SHA-256 {pin.sha256} at {dest} and re-run.")


# --------------------------------------------------------------------------
# build
# --------------------------------------------------------------------------

def run(cmd: list[str], cwd: Path | None = None, env: dict | None = None) -> None:
    log("$ " + shlex.join(cmd))
    p = subprocess.run(cmd, cwd=cwd, env=env)
    if p.returncode != 0:
        raise Fail(f"command failed ({p.returncode}): {shlex.join(cmd)}")


def extract(pin: Pin, tarball: Path, srcroot: Path) -> Path:
    dest = srcroot / pin.directory
    if dest.exists():
        shutil.rmtree(dest)
    srcroot.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tarball) as t:
        for m in t.getmembers():
            if not (m.name == pin.directory or m.name.startswith(pin.directory + "/")):
                raise Fail(f"{tarball}: unexpected member {m.name!r}")
        if hasattr(tarfile, "data_filter"):
            t.extractall(srcroot, filter="data")
        else:
            t.extractall(srcroot)
    return dest


def patches_for(name: str) -> list[Path]:
    d = HERE / "patches" / name
    series = d / "series"
    if not series.exists():
        return []
    return [d / l.strip() for l in series.read_text().splitlines()
            if l.strip() and not l.startswith("#")]


def apply_patches(name: str, src: Path) -> None:
    for p in patches_for(name):
        log(f"{name}: applying {p.name}")
        with open(p, "rb") as f:
            r = subprocess.run(["patch", "-p1", "-N", "-s", "--no-backup-if-mismatch"],
                               cwd=src, stdin=f)
        if r.returncode != 0:
            raise Fail(f"{name}: patch {p} does not apply")


def write_wrapper(path: Path, argv: list[str]) -> None:
    path.write_text("#!/bin/sh\nexec " + " ".join(shlex.quote(x) for x in argv) + ' "$@"\n')
    path.chmod(0o755)


def cmake_generator() -> list[str]:
    if shutil.which("ninja") or shutil.which("ninja-build"):
        return ["-G", "Ninja"]
    return ["-G", "Unix Makefiles"]


class Toolchain:
    def __init__(self, a: argparse.Namespace, work: Path, prefix: Path):
        self.cc = list(a.cc)
        self.cflags = list(a.cflags or [])
        self.ar = a.ar
        self.ranlib = a.ranlib
        self.cross = a.cross
        self.system = a.system_name
        self.processor = a.system_processor
        self.jobs = a.jobs or os.cpu_count() or 2
        work.mkdir(parents=True, exist_ok=True)
        self.ccwrap = work / "cc"
        write_wrapper(self.ccwrap, self.cc)
        self.file = work / "toolchain.cmake"
        lines = []
        if self.cross:
            lines += [f'set(CMAKE_SYSTEM_NAME "{self.system}")',
                      f'set(CMAKE_SYSTEM_PROCESSOR "{self.processor}")']
        lines += [
            f'set(CMAKE_C_COMPILER "{self.ccwrap}")',
            f'set(CMAKE_AR "{self.ar}" CACHE FILEPATH "")',
            f'set(CMAKE_RANLIB "{self.ranlib}" CACHE FILEPATH "")',
            # Never pick up the build machine's (glibc) headers or libraries.
            f'set(CMAKE_FIND_ROOT_PATH "{prefix}")',
            'set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)',
            'set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)',
            'set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)',
            'set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)',
            'set(CMAKE_POSITION_INDEPENDENT_CODE ON)',
        ]
        self.file.write_text("\n".join(lines) + "\n")
        self.env = dict(os.environ)
        # No pkg-config data from the build machine either.
        empty = work / "empty-pkgconfig"
        empty.mkdir(exist_ok=True)
        self.env.update(PKG_CONFIG_LIBDIR=str(empty), PKG_CONFIG_PATH="")
        for v in ("CFLAGS", "CPPFLAGS", "LDFLAGS", "CC", "LIBS"):
            self.env.pop(v, None)

    def identity(self) -> str:
        return json.dumps([self.cc, self.cflags, self.ar, self.ranlib, self.cross,
                           self.system, self.processor])

    def cmake(self, src: Path, build: Path, prefix: Path, options: dict[str, str],
              extra_cflags: tuple[str, ...] = ()) -> None:
        if build.exists():
            shutil.rmtree(build)
        cflags = [*self.cflags, *extra_cflags]
        args = ["cmake", "-S", str(src), "-B", str(build), *cmake_generator(),
                f"-DCMAKE_TOOLCHAIN_FILE={self.file}",
                "-DCMAKE_BUILD_TYPE=None",
                f"-DCMAKE_C_FLAGS={' '.join(cflags)}",
                f"-DCMAKE_INSTALL_PREFIX={prefix}",
                "-DCMAKE_INSTALL_LIBDIR=lib",
                "-Wno-dev"]
        args += [f"-D{k}={v}" for k, v in options.items()]
        run(args, env=self.env)
        run(["cmake", "--build", str(build), "--parallel", str(self.jobs)], env=self.env)
        run(["cmake", "--install", str(build)], env=self.env)


def stamp_key(pin: Pin, tc: Toolchain, extra: str) -> str:
    h = hashlib.sha256()
    for part in (RECIPE_VERSION, pin.sha256, tc.identity(), extra,
                 (HERE / "deps.py").read_text()):
        h.update(part.encode() + b"\0")
    for p in patches_for(pin.name):
        h.update(p.read_bytes())
    return h.hexdigest()


def build_mbedtls(pin: Pin, src: Path, work: Path, prefix: Path, tc: Toolchain) -> None:
    shutil.copyfile(HERE / "mbedtls_config.h", src / "include/mbedtls/mbedtls_config.h")
    tc.cmake(src, work / "build-mbedtls", prefix, {
        "ENABLE_PROGRAMS": "OFF",
        "ENABLE_TESTING": "OFF",
        "USE_SHARED_MBEDTLS_LIBRARY": "OFF",
        "USE_STATIC_MBEDTLS_LIBRARY": "ON",
        "MBEDTLS_FATAL_WARNINGS": "OFF",
        "GEN_FILES": "OFF",
        "LINK_WITH_PTHREAD": "OFF",
        "LINK_WITH_TRUSTED_STORAGE": "OFF",
        "DISABLE_PACKAGE_CONFIG_AND_INSTALL": "OFF",
    # x86_64: AES-NI through intrinsics (used after the same run-time CPU
    # check), not aesni.c's inline assembly, whose numeric local labels
    # GCC 12's LTO partitions do not keep together ("local label not
    # defined" from the assembler).
    }, extra_cflags=("-maes", "-mpclmul") if tc.processor == "x86_64" else ())


def curl_options(prefix: Path, a: argparse.Namespace) -> dict[str, str]:
    on, off = "ON", "OFF"
    opts = {
        # what to build
        "BUILD_SHARED_LIBS": off, "BUILD_STATIC_LIBS": on, "BUILD_CURL_EXE": off,
        "BUILD_LIBCURL_DOCS": off, "BUILD_MISC_DOCS": off, "ENABLE_CURL_MANUAL": off,
        "BUILD_TESTING": off, "BUILD_EXAMPLES": off, "CURL_USE_PKGCONFIG": off,
        "CURL_HIDDEN_SYMBOLS": on, "PICKY_COMPILER": off, "CURL_WERROR": off,
        "ENABLE_DEBUG": off, "ENABLE_CURLDEBUG": off, "CURL_LTO": off,
        # TLS: mbedtls only
        "CURL_ENABLE_SSL": on, "CURL_USE_MBEDTLS": on, "CURL_USE_OPENSSL": off,
        "CURL_USE_GNUTLS": off, "CURL_USE_WOLFSSL": off, "CURL_USE_RUSTLS": off,
        "CURL_USE_BEARSSL": off,
        "MBEDTLS_INCLUDE_DIR": f"{prefix}/include",
        "MBEDTLS_LIBRARY": f"{prefix}/lib/libmbedtls.a",
        "MBEDX509_LIBRARY": f"{prefix}/lib/libmbedx509.a",
        "MBEDCRYPTO_LIBRARY": f"{prefix}/lib/libmbedcrypto.a",
        "CURL_CA_BUNDLE": a.ca_bundle or "none",
        "CURL_CA_PATH": a.ca_path or "none",
        "CURL_CA_SEARCH_SAFE": off,
        # protocols: HTTP(S) only, HTTP/1.1 only
        "HTTP_ONLY": on, "CURL_DISABLE_WEBSOCKETS": on, "CURL_DISABLE_IPFS": on,
        "USE_NGHTTP2": off, "USE_NGTCP2": off, "USE_QUICHE": off, "USE_MSH3": off,
        "USE_OPENSSL_QUIC": off, "USE_HTTPSRR": off, "USE_ECH": off, "USE_SSLS_EXPORT": off,
        # resolver: threaded (timeouts cover DNS), no c-ares
        "ENABLE_THREADED_RESOLVER": on, "ENABLE_ARES": off, "ENABLE_IPV6": on,
        "ENABLE_UNIX_SOCKETS": on,
        # no optional libraries
        "CURL_ZLIB": off, "CURL_BROTLI": off, "CURL_ZSTD": off, "USE_LIBIDN2": off,
        "CURL_USE_LIBPSL": off, "CURL_USE_LIBSSH2": off, "CURL_USE_LIBSSH": off,
        "CURL_USE_WOLFSSH": off, "CURL_USE_GSSAPI": off, "CURL_USE_GSASL": off,
        "USE_LIBRTMP": off, "CURL_USE_LIBUV": off,
        # features vaultexec does not use
        "CURL_DISABLE_COOKIES": on, "CURL_DISABLE_ALTSVC": on, "CURL_DISABLE_HSTS": on,
        "CURL_DISABLE_DOH": on, "CURL_DISABLE_NETRC": on, "CURL_DISABLE_AWS": on,
        "CURL_DISABLE_MIME": on, "CURL_DISABLE_FORM_API": on,
        "CURL_DISABLE_PROGRESS_METER": on, "CURL_DISABLE_SHUFFLE_DNS": on,
        "CURL_DISABLE_GETOPTIONS": on, "CURL_DISABLE_LIBCURL_OPTION": on,
        "CURL_DISABLE_OPENSSL_AUTO_LOAD_CONFIG": on, "CURL_DISABLE_SRP": on,
        "CURL_DISABLE_BINDLOCAL": on,
        # curl_easy_header(): vaultexec reads Location and Retry-After in its
        # header callback
        "CURL_DISABLE_HEADERS_API": on,
        # auth: keep Basic (proxy user:pass@ URLs), drop the rest
        "CURL_DISABLE_DIGEST_AUTH": on, "CURL_DISABLE_NTLM": on,
        "CURL_DISABLE_NEGOTIATE_AUTH": on, "CURL_DISABLE_KERBEROS_AUTH": on,
        "CURL_DISABLE_BEARER_AUTH": on, "CURL_DISABLE_SHA512_256": on,
        # keep: HTTP proxy (CURL_DISABLE_PROXY off), headers API, verbose strings,
        # and the date parser (vaultexec parses Retry-After with curl_getdate();
        # CURL_DISABLE_PARSEDATE would make it silently return 0)
        "CURL_DISABLE_PROXY": off,
        "CURL_DISABLE_VERBOSE_STRINGS": on if a.curl_no_verbose else off,
    }
    return opts


def build_curl(pin: Pin, src: Path, work: Path, prefix: Path, tc: Toolchain,
               a: argparse.Namespace) -> None:
    tc.cmake(src, work / "build-curl", prefix, curl_options(prefix, a))


def build_cjson(pin: Pin, src: Path, work: Path, prefix: Path, tc: Toolchain) -> None:
    b = work / "build-cjson"
    if b.exists():
        shutil.rmtree(b)
    b.mkdir(parents=True)
    run([*tc.cc, *tc.cflags, "-std=c99", "-c", str(src / "cJSON.c"), "-o", str(b / "cJSON.o")])
    lib = prefix / "lib" / "libcjson.a"
    lib.parent.mkdir(parents=True, exist_ok=True)
    lib.unlink(missing_ok=True)
    run([tc.ar, "rcs", str(lib), str(b / "cJSON.o")])
    inc = prefix / "include" / "cjson"
    inc.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src / "cJSON.h", inc / "cJSON.h")


OUTPUTS = {
    "mbedtls": ["libmbedtls.a", "libmbedx509.a", "libmbedcrypto.a"],
    "curl": ["libcurl.a"],
    "cjson": ["libcjson.a"],
}


def cmd_build(a: argparse.Namespace) -> None:
    subprojects = Path(a.subprojects_dir).resolve()
    work = Path(a.work_dir).resolve()
    outdir = Path(a.outdir).resolve()
    prefix = work / "prefix"
    pins = load_pins(subprojects)
    for spec in a.pin:
        name, _, sha = spec.partition(":")
        if name in pins and pins[name].sha256 != sha.lower():
            raise Fail(f"{name}.wrap changed since meson configured this build directory: "
                       f"run `meson setup --reconfigure` (or let ninja do it) first")
    tc = Toolchain(a, work, prefix)
    extra = json.dumps(curl_options(prefix, a), sort_keys=True) + \
        (HERE / "mbedtls_config.h").read_text()
    for name in DEPS:
        pin = pins[name]
        tarball = subprojects / "packagecache" / pin.filename
        if not tarball.exists():
            raise Fail(f"{tarball} missing: run `{sys.argv[0]} fetch` (meson setup does this)")
        key = stamp_key(pin, tc, extra)
        stamp = work / f"{name}.stamp"
        libs = [prefix / "lib" / o for o in OUTPUTS[name]]
        if stamp.exists() and stamp.read_text() == key and all(l.exists() for l in libs):
            log(f"{name} {pin.version}: up to date")
            continue
        stamp.unlink(missing_ok=True)
        verify(pin, tarball)
        log(f"{name} {pin.version}: SHA-256 ok, building")
        src = extract(pin, tarball, work / "src")
        apply_patches(name, src)
        if name == "mbedtls":
            build_mbedtls(pin, src, work, prefix, tc)
        elif name == "curl":
            build_curl(pin, src, work, prefix, tc, a)
        else:
            build_cjson(pin, src, work, prefix, tc)
        missing = [str(l) for l in libs if not l.exists()]
        if missing:
            raise Fail(f"{name}: build did not produce {missing}")
        stamp.write_text(key)
    # Outputs for meson: copies of the archives (meson wants them in the
    # custom_target's own directory) and a header that records the pins.
    outdir.mkdir(parents=True, exist_ok=True)
    for name in DEPS:
        for o in OUTPUTS[name]:
            tmp = outdir / (o + ".tmp")
            shutil.copyfile(prefix / "lib" / o, tmp)
            os.replace(tmp, outdir / o)
    hdr = ["/* Generated by subprojects/static/deps.py: pinned static dependencies.",
           " * Force-included (-include) by meson into everything that uses them. */",
           "#ifndef VAULTEXEC_STATIC_DEPS_H", "#define VAULTEXEC_STATIC_DEPS_H"]
    for name in DEPS:
        pin = pins[name]
        up = name.upper()
        hdr.append(f'#define VAULTEXEC_STATIC_{up}_VERSION "{pin.version}"')
        hdr.append(f'#define VAULTEXEC_STATIC_{up}_SHA256 "{pin.sha256}"')
    hdr.append("#endif")
    (outdir / a.header).write_text("\n".join(hdr) + "\n")


# --------------------------------------------------------------------------
# probe
# --------------------------------------------------------------------------

def elf_kind(path: Path) -> str:
    """'static-pie', 'static', or 'dynamic' for an ELF executable."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF":
        return "unknown"
    is64 = data[4] == 2
    end = "<" if data[5] == 1 else ">"
    if is64:
        e_type, = struct.unpack_from(end + "H", data, 16)
        e_phoff, = struct.unpack_from(end + "Q", data, 32)
        e_phentsize, e_phnum = struct.unpack_from(end + "HH", data, 54)
    else:
        e_type, = struct.unpack_from(end + "H", data, 16)
        e_phoff, = struct.unpack_from(end + "I", data, 28)
        e_phentsize, e_phnum = struct.unpack_from(end + "HH", data, 42)
    interp = dynamic = False
    for i in range(e_phnum):
        p_type, = struct.unpack_from(end + "I", data, e_phoff + i * e_phentsize)
        interp |= p_type == 3   # PT_INTERP
        dynamic |= p_type == 2  # PT_DYNAMIC
    if interp:
        return "dynamic"
    if e_type == 3:  # ET_DYN without interpreter: static-pie (if it has _DYNAMIC)
        return "static-pie" if dynamic else "unknown"
    return "static" if e_type == 2 else "unknown"


def cmd_probe(a: argparse.Namespace) -> None:
    cc = list(a.cc)
    with tempfile.TemporaryDirectory() as td:
        src = Path(td) / "t.c"
        src.write_text("#include <stdio.h>\nint main(void){puts(\"ok\");return 0;}\n")
        for kind, flags in (("static-pie", ["-fPIE", "-static-pie"]), ("static", ["-static"])):
            if a.no_pie and kind == "static-pie":
                continue
            out = Path(td) / kind
            r = subprocess.run([*cc, *flags, str(src), "-o", str(out)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if r.returncode == 0 and elf_kind(out) == kind:
                print(kind)
                return
    print("none")


def cmd_inputs(a: argparse.Namespace) -> None:
    subprojects = Path(a.subprojects_dir).resolve()
    # The wrap files themselves are tracked by meson.build via fs.read().
    files = [HERE / "deps.py", HERE / "mbedtls_config.h"]
    for n in DEPS:
        # Every dependency has a series file (possibly empty), so adding a
        # patch (which means editing series) always re-runs the build step.
        files += [HERE / "patches" / n / "series", *patches_for(n)]
    print("\n".join(str(f) for f in files))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fetch")
    f.add_argument("--subprojects-dir", default=str(HERE.parent))
    f.add_argument("--work-dir", default=str(HERE.parent / "packagecache" / ".state"))
    f.add_argument("--offline", action="store_true")
    b = sub.add_parser("build")
    b.add_argument("--subprojects-dir", default=str(HERE.parent))
    b.add_argument("--work-dir", required=True)
    b.add_argument("--outdir", required=True)
    b.add_argument("--header", default="vaultexec-static-deps.h")
    b.add_argument("--cc", action="append", required=True,
                   help="compiler command, one word per --cc=WORD")
    b.add_argument("--cflag", dest="cflags", action="append", default=[],
                   help="C flag for the dependencies, one per --cflag=FLAG")
    b.add_argument("--ar", default="ar")
    b.add_argument("--ranlib", default="ranlib")
    b.add_argument("--cross", action="store_true")
    b.add_argument("--system-name", default="Linux")
    b.add_argument("--system-processor", default=os.uname().machine)
    b.add_argument("--ca-bundle", default="")
    b.add_argument("--ca-path", default="")
    b.add_argument("--curl-no-verbose", action="store_true")
    b.add_argument("--jobs", type=int, default=0)
    b.add_argument("--pin", action="append", default=[],
                   help="NAME:SHA256 as meson saw it at configure time (consistency check)")
    i = sub.add_parser("inputs", help="list the files the build step depends on")
    i.add_argument("--subprojects-dir", default=str(HERE.parent))
    p = sub.add_parser("probe")
    p.add_argument("--cc", action="append", required=True,
                   help="compiler command, one word per --cc=WORD")
    p.add_argument("--no-pie", action="store_true")
    a = ap.parse_args()
    try:
        {"fetch": cmd_fetch, "build": cmd_build, "probe": cmd_probe,
         "inputs": cmd_inputs}[a.cmd](a)
    except Fail as e:
        print(f"[static-deps] ERROR: {e}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
