#!/usr/bin/env python3
"""End-to-end check of the static dependency recipe (meson test --suite static).

Runs tests/static/static-smoke (and, if given, checks vaultexec's ELF) against
servers on loopback only: HTTPS with TLS 1.3 (RSA) and TLS 1.2 only (ECDSA),
a wrong CA, plain HTTP over a unix socket, and HTTPS through a CONNECT proxy.
Needs python3 and the openssl command line tool. Bounded: every server
stops when the test ends, every client call has a timeout.

usage: smoke-test.py STATIC_SMOKE [ELF...]

Cross builds: meson test sets MESON_EXE_WRAPPER (the cross file's
exe_wrapper, e.g. qemu-aarch64) and the programs run under it.
"""

from __future__ import annotations

import http.server
import json
import os
import select
import shlex
import shutil
import socket
import socketserver
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

# meson test sets this for cross builds (cross file's exe_wrapper).
WRAPPER = shlex.split(os.environ.get("MESON_EXE_WRAPPER", ""))

BODY = json.dumps({"data": {"value": "hunter2"}}).encode()
results: list[tuple[str, bool, str]] = []


def check(name: str, ok: bool, detail: str = "") -> None:
    results.append((name, ok, detail))
    print(f"{'ok' if ok else 'not ok'} {len(results)} - {name}" + (f"  # {detail}" if detail and not ok else ""),
          flush=True)


# ---------------------------------------------------------------- ELF ------

def elf_kind(path: Path) -> str:
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2:
        return "not a 64-bit ELF"
    e_type, = struct.unpack_from("<H", data, 16)
    e_phoff, = struct.unpack_from("<Q", data, 32)
    e_phentsize, e_phnum = struct.unpack_from("<HH", data, 54)
    types = [struct.unpack_from("<I", data, e_phoff + i * e_phentsize)[0] for i in range(e_phnum)]
    if 3 in types:
        return "dynamic"
    if e_type == 3:
        return "static-pie"
    return "static" if e_type == 2 else "unknown"


def exec_stack(path: Path) -> bool:
    data = path.read_bytes()
    e_phoff, = struct.unpack_from("<Q", data, 32)
    e_phentsize, e_phnum = struct.unpack_from("<HH", data, 54)
    for i in range(e_phnum):
        p_type, p_flags = struct.unpack_from("<II", data, e_phoff + i * e_phentsize)
        if p_type == 0x6474E551:  # PT_GNU_STACK
            return bool(p_flags & 1)
    return True  # no PT_GNU_STACK: the kernel may default to an executable stack


def check_elf(path: Path) -> None:
    kind = elf_kind(path)
    check(f"{path.name} is static ({kind})", kind in ("static", "static-pie"), kind)
    if shutil.which("file"):
        out = subprocess.run(["file", "-b", str(path)], capture_output=True, text=True).stdout
        check(f"file(1) says static: {out.strip()[:90]}",
              ("statically linked" in out or "static-pie linked" in out) and "interpreter" not in out,
              out)
    if shutil.which("ldd"):
        p = subprocess.run(["ldd", str(path)], capture_output=True, text=True)
        out = (p.stdout + p.stderr).strip()
        check(f"ldd: {out[:60]}", "not a dynamic executable" in out or "statically linked" in out
              or "Not a valid dynamic program" in out, out)


# ---------------------------------------------------------- certificates ---

def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=60)


def make_pki(d: Path) -> None:
    ext = d / "san.ext"
    (d / "client.ext").write_text("basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n")
    ext.write_text("subjectAltName=DNS:localhost,DNS:vault.test,IP:127.0.0.1\n"
                   "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
                   "extendedKeyUsage=serverAuth\n")
    for ca in ("ca", "otherca"):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{ca}.key",
                "-out", f"{ca}.pem", "-days", "2", "-subj", f"/CN=vaultexec test {ca}",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "rsa.key", "-out", "rsa.csr",
            "-subj", "/CN=localhost", cwd=d)
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "ec.key", "-out", "ec.csr", "-subj", "/CN=localhost", cwd=d)
    for k in ("rsa", "ec"):
        openssl("x509", "-req", "-in", f"{k}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", f"{k}.pem", "-days", "2", "-sha256",
                "-extfile", str(ext), cwd=d)
    # client certificates (Vault's cert auth): an EC key in PKCS#8, an RSA key
    # in the traditional PKCS#1 PEM form
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384", "-nodes",
            "-keyout", "client-ec.key", "-out", "client-ec.csr", "-subj", "/CN=client-ec", cwd=d)
    openssl("genrsa", "-traditional", "-out", "client-rsa.key", "2048", cwd=d)
    openssl("req", "-new", "-key", "client-rsa.key", "-out", "client-rsa.csr",
            "-subj", "/CN=client-rsa", cwd=d)
    for k in ("client-ec", "client-rsa"):
        openssl("x509", "-req", "-in", f"{k}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", f"{k}.pem", "-days", "2", "-sha384",
                "-extfile", "client.ext", cwd=d)


# --------------------------------------------------------------- servers ---

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *a) -> None:
        pass


class TLSServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True

    def __init__(self, ctx: ssl.SSLContext):
        super().__init__(("127.0.0.1", 0), Handler)
        self.ctx = ctx

    def get_request(self):
        sock, addr = super().get_request()
        sock.settimeout(10)
        return self.ctx.wrap_socket(sock, server_side=True), addr


class UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self):
        sock, _ = super().get_request()
        return sock, ("local", 0)


class ProxyHandler(socketserver.BaseRequestHandler):
    """Minimal CONNECT-only proxy, loopback targets only."""

    def handle(self) -> None:
        self.request.settimeout(10)
        head = b""
        while b"\r\n\r\n" not in head and len(head) < 8192:
            chunk = self.request.recv(1024)
            if not chunk:
                return
            head += chunk
        line = head.split(b"\r\n", 1)[0].decode()
        method, target, _ = line.split(" ", 2)
        host, port = target.rsplit(":", 1)
        if method != "CONNECT" or host not in ("localhost", "127.0.0.1"):
            self.request.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return
        self.server.connects.append(target)
        up = socket.create_connection(("127.0.0.1", int(port)), timeout=10)
        self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        socks = [self.request, up]
        try:
            while True:
                r, _, _ = select.select(socks, [], [], 10)
                if not r:
                    return
                for s in r:
                    data = s.recv(65536)
                    if not data:
                        return
                    (up if s is self.request else self.request).sendall(data)
        finally:
            up.close()


class ProxyServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), ProxyHandler)
        self.connects: list[str] = []


class DNSServer(threading.Thread):
    """Tiny UDP DNS responder on a loopback address: vault.test -> 127.0.0.1,
    slow.test -> never answers (to show request timeouts cover DNS)."""

    def __init__(self, addr: str):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((addr, 53))
        self.sock.settimeout(0.2)
        self.stop = threading.Event()
        self.queries: list[str] = []

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                q, peer = self.sock.recvfrom(512)
            except (socket.timeout, OSError):
                continue
            labels, i = [], 12
            while i < len(q) and q[i]:
                labels.append(q[i + 1:i + 1 + q[i]].decode(errors="replace"))
                i += 1 + q[i]
            name = ".".join(labels).lower()
            qtype = struct.unpack_from(">H", q, i + 1)[0] if i + 3 <= len(q) else 0
            self.queries.append(name)
            if name == "slow.test":
                continue
            question = q[12:i + 5]
            answers = b""
            rcode = 0 if name == "vault.test" else 3
            if name == "vault.test" and qtype == 1:
                answers = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 5, 4) + socket.inet_aton("127.0.0.1")
            header = q[:2] + struct.pack(">HHHHH", 0x8180 | rcode, 1, 1 if answers else 0, 0, 0)
            self.sock.sendto(header + question + answers, peer)

    def close(self) -> None:
        self.stop.set()
        self.join(2)
        self.sock.close()


def serve(server) -> None:
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                     daemon=True).start()


# ------------------------------------------------------------------ main ---

def run(smoke: Path, *args: str) -> tuple[int, str]:
    p = subprocess.run([*WRAPPER, str(smoke), *args], capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr


def dns_checks(smoke: Path, d: Path, ca: str, port: int) -> None:
    """Real DNS through musl's resolver in libcurl's resolver thread, in a
    private mount namespace whose /etc/resolv.conf points at DNSServer.
    Needs root and unshare(1); skipped (not failed) without them."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        print("# skip DNS checks: need root and unshare(1)")
        return
    addr = "127.5.5.5"
    try:
        dns = DNSServer(addr)
    except OSError as e:
        print(f"# skip DNS checks: cannot bind {addr}:53 ({e})")
        return
    dns.start()
    resolv = d / "resolv.conf"
    resolv.write_text(f"nameserver {addr}\noptions timeout:5 attempts:2\n")
    hosts = d / "hosts"
    hosts.write_text("127.0.0.1 localhost\n")

    def in_ns(*args: str) -> tuple[int, str, float]:
        script = ('mount --bind "$1" /etc/resolv.conf && mount --bind "$2" /etc/hosts && '
                  'shift 2 && exec "$@"')
        t0 = time.monotonic()
        p = subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", str(resolv), str(hosts),
                            *WRAPPER, str(smoke), *args], capture_output=True, text=True,
                           timeout=60)
        return p.returncode, p.stdout + p.stderr, time.monotonic() - t0

    try:
        probe = subprocess.run(["unshare", "-m", "sh", "-c",
                                'mount --bind "$1" /etc/resolv.conf', "sh", str(resolv)],
                               capture_output=True, text=True, timeout=30)
        if probe.returncode != 0:
            print(f"# skip DNS checks: no private mount namespace ({probe.stderr.strip()[:80]})")
            return
        rc, out, _ = in_ns(f"https://vault.test:{port}/v1/secret", "--cacert", ca)
        check("DNS: name resolved by musl in the resolver thread",
              rc == 0 and "value=hunter2" in out and "vault.test" in dns.queries, out)
        rc, out, took = in_ns(f"https://slow.test:{port}/v1/secret", "--cacert", ca,
                              "--timeout-ms", "1500")
        check(f"DNS: request timeout (1.5 s, CURLOPT_QUICK_EXIT) covers a DNS server that "
              f"never answers ({took:.1f}s)", rc == 3 and "(28)" in out and took < 4.5, out)
    finally:
        dns.close()


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    smoke = Path(sys.argv[1]).resolve()
    extra = list(map(Path, sys.argv[2:]))
    sibling = smoke.parents[2] / "src" / "vaultexec"  # <build>/tests/static/static-smoke
    if not extra and sibling.exists():
        extra = [sibling]
    for elf in [smoke, *extra]:
        check_elf(elf)

    rc, out = run(smoke, "--features")
    feats = dict(l.split("=", 1) for l in out.splitlines() if "=" in l)
    print("# " + out.replace("\n", " "), flush=True)
    check("libcurl protocols are http,https only", feats.get("protocols") == "http,https",
          feats.get("protocols", ""))
    check("threaded resolver (AsynchDNS)", feats.get("asynchdns") == "1")
    check("unix sockets", feats.get("unix_sockets") == "1")
    check("no HTTP/2, IDN, PSL, zlib, NTLM",
          all(feats.get(k) == "0" for k in ("http2", "idn", "psl", "libz_feature", "ntlm")))
    check("curl_getdate() parses HTTP dates", feats.get("getdate") == "784111777",
          feats.get("getdate", ""))
    check("TLS backend is mbedTLS", feats.get("ssl", "").startswith("mbedTLS/"), feats.get("ssl", ""))

    rc1, out1 = run(smoke, "--hardening")
    rc2, out2 = run(smoke, "--hardening")
    h1 = dict(l.split("=", 1) for l in out1.splitlines() if "=" in l)
    h2 = dict(l.split("=", 1) for l in out2.splitlines() if "=" in l)
    check("RELRO range is read-only at run time", h1.get("relro") == "read-only", out1)
    if elf_kind(smoke) == "static-pie" and WRAPPER:
        # qemu-user places every PIE at the same base (it has no ASLR of its
        # own); that the ELF is ET_DYN without interpreter is checked above.
        print(f"# skip ASLR check under {shlex.join(WRAPPER)}: the emulator chooses the "
              f"load address ({h1.get('main')} both runs)", flush=True)
    elif elf_kind(smoke) == "static-pie":
        check("static-pie: load address randomised (ASLR)", h1.get("main") != h2.get("main"),
              f"{h1.get('main')} {h2.get('main')}")
    check("no executable stack (PT_GNU_STACK not X)", not exec_stack(smoke))

    if not shutil.which("openssl"):
        check("openssl command line tool present", False, "apt-get install openssl")
        return summary()

    with tempfile.TemporaryDirectory(prefix="vaultexec-static-") as td:
        d = Path(td)
        make_pki(d)

        ctx13 = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx13.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx13.load_cert_chain(d / "rsa.pem", d / "rsa.key")
        ctx12 = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx12.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx12.load_cert_chain(d / "ec.pem", d / "ec.key")
        ctx12r = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx12r.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx12r.load_cert_chain(d / "rsa.pem", d / "rsa.key")
        s13, s12, s12r = TLSServer(ctx13), TLSServer(ctx12), TLSServer(ctx12r)
        mtls = {}
        for ver in ("1.3", "1.2"):
            c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            if ver == "1.3":
                c.minimum_version = ssl.TLSVersion.TLSv1_3
            else:
                c.maximum_version = ssl.TLSVersion.TLSv1_2
            c.load_cert_chain(d / "rsa.pem", d / "rsa.key")
            c.verify_mode = ssl.CERT_REQUIRED
            c.load_verify_locations(d / "ca.pem")
            mtls[ver] = TLSServer(c)
        sock_path = str(d / "vault.sock")
        su = UnixHTTPServer(sock_path, Handler)
        px = ProxyServer()
        servers = (s13, s12, s12r, su, px, *mtls.values())
        for s in servers:
            serve(s)
        p13, p12, pp = s13.server_address[1], s12.server_address[1], px.server_address[1]
        ca = str(d / "ca.pem")
        try:
            rc, out = run(smoke, f"https://localhost:{p13}/v1/secret", "--cacert", ca,
                          "--expect-tls", "TLSv1.3")
            check("HTTPS GET, TLS 1.3, RSA cert, via 'localhost' (threaded resolver)",
                  rc == 0 and "value=hunter2" in out, out)
            rc, out = run(smoke, f"https://127.0.0.1:{p12}/v1/secret", "--cacert", ca,
                          "--expect-tls", "TLSv1.2")
            check("HTTPS GET, TLS 1.2 only server, ECDSA P-256 cert",
                  rc == 0 and "value=hunter2" in out, out)
            rc, out = run(smoke, f"https://localhost:{s12r.server_address[1]}/v1/secret",
                          "--cacert", ca, "--expect-tls", "TLSv1.2")
            check("HTTPS GET, TLS 1.2 only server, RSA cert (RSA-PSS ServerKeyExchange)",
                  rc == 0 and "value=hunter2" in out, out)
            dns_checks(smoke, d, ca, p13)
            rc, out = run(smoke, f"https://localhost:{p13}/v1/secret", "--cacert",
                          str(d / "otherca.pem"))
            check("wrong CA is rejected", rc == 3 and ("certificate" in out.lower()
                                                       or "SSL" in out), out)
            rc, out = run(smoke, "http://localhost/v1/secret", "--unix", sock_path)
            check("plain HTTP over a unix socket", rc == 0 and "value=hunter2" in out, out)
            rc, out = run(smoke, f"https://localhost:{p13}/v1/secret", "--cacert", ca,
                          "--proxy", f"http://127.0.0.1:{pp}", "--expect-tls", "TLSv1.3")
            check("HTTPS through an HTTP CONNECT proxy",
                  rc == 0 and "value=hunter2" in out and px.connects == [f"localhost:{p13}"],
                  out + f" connects={px.connects}")
            for ver, kind in (("1.3", "client-ec"), ("1.2", "client-rsa"), ("1.3", "client-rsa")):
                port = mtls[ver].server_address[1]
                rc, out = run(smoke, f"https://localhost:{port}/v1/auth/cert/login", "--cacert", ca,
                              "--cert", str(d / f"{kind}.pem"), "--key", str(d / f"{kind}.key"),
                              "--expect-tls", f"TLSv{ver}")
                check(f"client certificate ({kind}) over TLS {ver}",
                      rc == 0 and "value=hunter2" in out, out)
            rc, out = run(smoke, f"https://localhost:{mtls['1.3'].server_address[1]}/", "--cacert", ca)
            check("no client certificate: server refuses", rc == 3, out)
        finally:
            for s in servers:
                s.shutdown()
                s.server_close()
    return summary()


def summary() -> int:
    failed = sum(1 for _, ok, _ in results if not ok)
    print(f"{len(results) - failed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
