"""A scriptable, fault-injecting fake Vault for vaultexec's integration tests.

It does what a real OpenBao cannot do on demand: answer sealed/standby, throw
5xx storms, 429 with Retry-After, redirects, slow, truncated, malformed or huge
bodies, and odd JSON values.  Every request is logged (method, path, query,
headers, time) so tests can assert what the client sent.

    fv = FakeVault()                   # plain HTTP on 127.0.0.1:<free port>
    fv = FakeVault(tls=(cert, key))    # HTTPS (optionally client_ca=... to require a client cert)
    fv = FakeVault(unix_path="/tmp/x.sock")
    fv.script("/v1/sys/health", R(503), R(503), R(200, HEALTH_OK))   # a queue; the last one sticks
    fv.kv2("app", {"password": "x"})   # GET /v1/secret/data/app answers a KV v2 envelope
    ... run vaultexec with --addr fv.addr ...
    fv.requests_to("/v1/secret/data/app")
    fv.close()

Only the standard library is used.
"""
from __future__ import annotations

import json
import os
import socket
import socketserver
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

HEALTH_OK = {
    "initialized": True,
    "sealed": False,
    "standby": False,
    "replication_performance_mode": "disabled",
    "replication_dr_mode": "disabled",
    "server_time_utc": 1700000000,
    "version": "2.7.2",
    "cluster_name": "vault-cluster-fake",
    "cluster_id": "00000000-0000-0000-0000-000000000000",
}
HEALTH_SEALED = {
    "initialized": True,
    "sealed": True,
    "standby": True,
    "replication_performance_mode": "disabled",
    "replication_dr_mode": "disabled",
    "server_time_utc": 1700000000,
    "version": "2.7.2",
}
HEALTH_UNINIT = dict(HEALTH_SEALED, initialized=False)
HEALTH_STANDBY = dict(HEALTH_OK, standby=True)


@dataclass
class R:
    """One scripted response.

    status/headers/body: what to answer; a dict or list body is sent as JSON,
      a str as UTF-8, bytes as is.
    delay: seconds to wait before answering (interrupted by close()).
    truncate: announce the full Content-Length but send only this many body
      bytes, then close the connection.
    close: close the connection without sending anything.
    stream: send a generated JSON-ish body of this many bytes without ever
      holding it in memory (with Content-Length unless chunked=True).
    chunked: use Transfer-Encoding: chunked (no Content-Length).
    times: serve this response this many times before moving on.
    """

    status: int = 200
    body: object = None
    headers: dict = field(default_factory=dict)
    delay: float = 0.0
    truncate: int | None = None
    close: bool = False
    stream: int | None = None
    chunked: bool = False
    times: int = 1


@dataclass
class Req:
    method: str
    path: str  # raw path without the query string
    query: str  # raw query string
    headers: list  # [(name, value)] as received
    time: float  # time.monotonic()
    body: bytes = b""

    def header(self, name):
        """All values of header NAME (case-insensitive)."""
        n = name.lower()
        return [v for k, v in self.headers if k.lower() == n]

    @property
    def params(self):
        return urllib.parse.parse_qs(self.query, keep_blank_values=True)


def error_body(*msgs):
    return {"errors": list(msgs)}


def envelope(data, warnings=None):
    return {
        "request_id": "fake-0000",
        "lease_id": "",
        "renewable": False,
        "lease_duration": 0,
        "data": data,
        "wrap_info": None,
        "warnings": warnings,
        "auth": None,
    }


def kv2_metadata(version=1, deletion_time="", destroyed=False):
    return {
        "created_time": "2024-01-01T00:00:00.000000000Z",
        "custom_metadata": None,
        "deletion_time": deletion_time,
        "destroyed": destroyed,
        "version": version,
    }


def kv2_body(data, version=1):
    return envelope({"data": data, "metadata": kv2_metadata(version)})


def kv2_raw_body(raw_data_json, version=1):
    """A KV v2 read body whose data object is given as literal JSON text, so
    numbers like 12345678901234567890 or 1.50 reach the client verbatim."""
    meta = json.dumps(kv2_metadata(version))
    return (
        '{"request_id":"fake-0000","lease_id":"","renewable":false,"lease_duration":0,'
        '"data":{"data":' + raw_data_json + ',"metadata":' + meta + "},"
        '"wrap_info":null,"warnings":null,"auth":null}'
    )


def kv2_deleted_body(version=1, destroyed=False):
    """The 404 body OpenBao sends for a soft-deleted or destroyed version."""
    meta = kv2_metadata(
        version,
        deletion_time="" if destroyed else "2024-01-02T00:00:00.000000000Z",
        destroyed=destroyed,
    )
    return envelope({"data": None, "metadata": meta})


def kv1_body(data):
    return dict(envelope(data), lease_duration=2764800)


def mounts_body(mount, version, type_="kv"):
    opts = None if version is None else {"version": str(version)}
    return envelope(
        {
            "path": mount.strip("/") + "/",
            "type": type_,
            "options": opts,
            "accessor": "kv_fake",
            "config": {"default_lease_ttl": 0, "max_lease_ttl": 0, "force_no_cache": False},
            "description": "",
            "local": False,
            "seal_wrap": False,
            "external_entropy_access": False,
            "uuid": "00000000-0000-0000-0000-000000000001",
        }
    )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeVault/1.0"
    sys_version = ""

    # --- plumbing ---------------------------------------------------------
    def setup(self):
        fake = self.server.fake
        if fake.ssl_context is not None:
            self.request.settimeout(10)
            try:
                self.request = fake.ssl_context.wrap_socket(self.request, server_side=True)
            except (ssl.SSLError, OSError) as e:
                fake._note_error(f"tls handshake: {e}")
                raise
            self.request.settimeout(None)
        super().setup()

    def log_message(self, fmt, *args):  # keep test output clean
        pass

    def address_string(self):
        return "fake"

    def do_GET(self):
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_LIST = do_PATCH = do_GET

    # --- the real work ----------------------------------------------------
    def _dispatch(self):
        fake = self.server.fake
        parsed = urllib.parse.urlsplit(self.path)
        body = b""
        n = self.headers.get("Content-Length")
        if n:
            try:
                body = self.rfile.read(int(n))
            except (ValueError, OSError):
                body = b""
        req = Req(
            method=self.command,
            path=parsed.path,
            query=parsed.query,
            headers=list(self.headers.items()),
            time=time.monotonic(),
            body=body,
        )
        resp = fake._record_and_pick(req)
        if callable(resp):
            resp = resp(req)
        if resp.delay:
            if fake._stop.wait(resp.delay):
                self._hangup()
                return
        if resp.close:
            self._hangup()
            return
        try:
            self._send(resp)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError) as e:
            fake._note_error(f"send {req.path}: {e}")
            self.close_connection = True

    def _hangup(self):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _send(self, resp: R):
        fake = self.server.fake
        headers = {k.lower(): (k, v) for k, v in resp.headers.items()}
        if resp.stream is not None:
            self._send_stream(resp, headers)
            return
        body = resp.body
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode("utf-8")
        elif body is None:
            body = b""
        self.send_response(resp.status)
        if "content-type" not in headers and body:
            self.send_header("Content-Type", "application/json")
        for k, v in headers.values():
            self.send_header(k, v)
        if resp.chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(body)))
        if resp.truncate is not None:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command == "HEAD":
            return
        if resp.truncate is not None:
            self.wfile.write(body[: resp.truncate])
            self.wfile.flush()
            fake._count_sent(len(body[: resp.truncate]))
            self._hangup()
            return
        if resp.chunked:
            for i in range(0, len(body), 4096):
                piece = body[i : i + 4096]
                self.wfile.write(b"%x\r\n" % len(piece) + piece + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.wfile.write(body)
        self.wfile.flush()
        fake._count_sent(len(body))

    def _send_stream(self, resp: R, headers):
        fake = self.server.fake
        total = resp.stream
        head = b'{"request_id":"x","data":{"data":{"big":"'
        tail = b'"},"metadata":{"version":1,"deletion_time":"","destroyed":false}}}'
        filler = total - len(head) - len(tail)
        self.send_response(resp.status)
        self.send_header("Content-Type", "application/json")
        for k, v in headers.values():
            self.send_header(k, v)
        if resp.chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(total))
        self.end_headers()
        chunk = b"A" * 65536

        def emit(data):
            if resp.chunked:
                self.wfile.write(b"%x\r\n" % len(data) + data + b"\r\n")
            else:
                self.wfile.write(data)
            fake._count_sent(len(data))

        try:
            emit(head)
            left = filler
            while left > 0:
                if fake._stop.is_set():
                    raise BrokenPipeError("fake vault closing")
                piece = chunk if left >= len(chunk) else chunk[:left]
                emit(piece)
                left -= len(piece)
            emit(tail)
            if resp.chunked:
                self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            self.close_connection = True


class _TCPServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def handle_error(self, request, client_address):
        pass  # errors are recorded by the handler


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    request_queue_size = 64

    def handle_error(self, request, client_address):
        pass


class FakeVault:
    """A scripted fake Vault.  See the module docstring."""

    def __init__(self, tls=None, client_ca=None, unix_path=None, prefix="", port=0):
        self.prefix = prefix.rstrip("/")
        self.ssl_context = None
        if tls is not None:
            cert, key = tls
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            if client_ca is not None:
                ctx.verify_mode = ssl.CERT_REQUIRED
                ctx.load_verify_locations(client_ca)
            self.ssl_context = ctx
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._scripts: dict[str, list[R]] = {}
        self.requests: list[Req] = []
        self.errors: list[str] = []
        self.bytes_sent = 0
        # mount -> KV version ("1", "2" or None) for sys/internal/ui/mounts
        self.mounts = {"secret": "2"}
        # mount -> engine type for the same lookup ("kv" when not listed)
        self.mount_types: dict[str, str] = {}
        self.started = time.monotonic()
        self.health_gate = True  # see _health_gate
        self.unix_path = unix_path
        if unix_path is not None:
            self._server = _UnixServer(unix_path, _Handler)
            self.port = None
        else:
            self._server = _TCPServer(("127.0.0.1", port), _Handler)
            self.port = self._server.server_address[1]
        self._server.fake = self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    # --- addresses --------------------------------------------------------
    @property
    def scheme(self):
        return "https" if self.ssl_context is not None else "http"

    @property
    def addr(self):
        if self.unix_path is not None:
            return "unix://" + self.unix_path
        return f"{self.scheme}://127.0.0.1:{self.port}{self.prefix}"

    def url(self, path):
        """Absolute URL of PATH (which starts with /v1/...) on this server."""
        return f"{self.scheme}://127.0.0.1:{self.port}{self.prefix}{path}"

    # --- scripting --------------------------------------------------------
    def script(self, path, *responses):
        """Queue RESPONSES for PATH (optionally 'path?query' for an exact
        query match).  Each is served .times times; the last one sticks.
        A response may also be a callable taking the Req and returning an R
        (for time-based behaviour)."""
        items = []
        for r in responses:
            items.extend([r] * (1 if callable(r) else max(1, r.times)))
        with self._lock:
            self._scripts[path] = items

    def kv2(self, path, data, mount="secret", version=1, query=None):
        key = f"/v1/{mount}/data/{path}" + (f"?{query}" if query else "")
        self.script(key, R(200, kv2_body(data, version)))

    def kv2_raw(self, path, raw_data_json, mount="secret", version=1):
        self.script(f"/v1/{mount}/data/{path}", R(200, kv2_raw_body(raw_data_json, version)))

    def kv1(self, path, data, mount="kv"):
        self.script(f"/v1/{mount}/{path}", R(200, kv1_body(data)))

    # --- inspection -------------------------------------------------------
    def requests_to(self, path, method=None):
        with self._lock:
            return [
                r
                for r in self.requests
                if r.path == self.prefix + path and (method is None or r.method == method)
            ]

    def paths(self):
        with self._lock:
            return [r.path + ("?" + r.query if r.query else "") for r in self.requests]

    def clear_log(self):
        with self._lock:
            self.requests.clear()

    def close(self):
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        if self.unix_path is not None:
            try:
                os.unlink(self.unix_path)
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- internals --------------------------------------------------------
    def _note_error(self, msg):
        with self._lock:
            self.errors.append(msg)

    def _count_sent(self, n):
        with self._lock:
            self.bytes_sent += n

    def _record_and_pick(self, req: Req):
        with self._lock:
            self.requests.append(req)
            path = req.path
            if self.prefix:
                if not path.startswith(self.prefix + "/"):
                    return R(404, error_body(f"fake: path outside prefix {self.prefix}"))
                path = path[len(self.prefix) :]
            gate = self._health_gate(path, req)
            if gate is not None:
                return gate
            for key in (path + "?" + req.query, path):
                queue = self._scripts.get(key)
                if queue:
                    return queue.pop(0) if len(queue) > 1 else queue[0]
            return self._default(path)

    def _health_gate(self, path, req):
        """What a node that is not ready answers to any other request, as a
        real one does: a scripted sys/health answer that is not ready (sealed,
        5xx, a dropped or broken answer) is the node's state, so every other
        path, scripted or not, answers 503 "Vault is sealed" (or the same 5xx,
        or the same dropped connection) until sys/health's queue moves on.
        The queue is only looked at, not advanced.  Off (health_gate = False)
        for a server that is not Vault, whose pages follow no node state."""
        if not self.health_gate or path == "/v1/sys/health" or path.startswith("/v1/sys/internal/"):
            return None
        queue = next((q for k, q in self._scripts.items() if k.split("?")[0] == "/v1/sys/health" and q), None)
        if not queue:
            return None
        head = queue[0](req) if callable(queue[0]) else queue[0]
        ready = head.status in (200, 429, 473) and not head.close and head.truncate is None and head.stream is None
        if ready:
            return None
        if head.close:
            return R(close=True, delay=head.delay)
        status = head.status if head.status >= 500 and head.status not in (501, 503) else 503
        return R(status, error_body("Vault is sealed"), delay=head.delay)

    def _default(self, path) -> R:
        if path == "/v1/sys/health":
            return R(200, HEALTH_OK)
        pfx = "/v1/sys/internal/ui/mounts/"
        if path.startswith(pfx):
            rest = path[len(pfx) :]
            # longest mount prefix wins, like the server
            best = None
            for m in self.mounts:
                if rest == m or rest.startswith(m.rstrip("/") + "/"):
                    if best is None or len(m) > len(best):
                        best = m
            if best is not None:
                return R(200, mounts_body(best, self.mounts[best], self.mount_types.get(best, "kv")))
            return R(
                403,
                error_body(
                    "preflight capability check returned 403, please ensure client's policies grant access to path \"%s/\""
                    % rest
                ),
            )
        return R(404, error_body())


def until(seconds, before: R, after: R, clock=None):
    """A scripted response that answers BEFORE for SECONDS after the first
    request that reaches it, then AFTER."""
    state = {"t0": None}
    lock = threading.Lock()

    def pick(req):
        with lock:
            if state["t0"] is None:
                state["t0"] = req.time
            return before if req.time - state["t0"] < seconds else after

    return pick
