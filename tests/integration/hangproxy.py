"""A TCP proxy in front of a real server that stops answering on demand.

    p = HangProxy("127.0.0.1", 8200)     # listens on p.port
    p.hang()       # from now on nothing the client sends is forwarded, on new
                   # and open connections alike: the client waits on a hung
                   # connection
    p.hang(drop=True)  # the same, and the open connections are closed first:
                   # the client's next request opens a new connection, and
                   # a TLS handshake that never ends
    p.wait_held()  # until a client has sent something that is being held
    p.release()    # forwards again
    p.close()

What the client sent while held is recorded (p.held_requests: the first
line of each held chunk, e.g. "GET /v1/secret/metadata/app HTTP/1.1", or
"<TLS handshake>" or "<TLS>" for a TLS record), so a test can tell which request hangs.
"""
from __future__ import annotations

import socket
import threading
import time


class HangProxy:
    def __init__(self, host: str, port: int):
        self.target = (host, port)
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.hanging = threading.Event()
        self.closed = threading.Event()
        self.lock = threading.Lock()
        self.held_requests: list[str] = []
        self.connections = 0
        self.socks: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def addr(self, scheme="http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}"

    def hang(self, drop: bool = False):
        self.hanging.set()
        if drop:
            with self.lock:
                socks, self.socks = self.socks, []
            for s in socks:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def release(self):
        self.hanging.clear()

    def wait_held(self, timeout=20.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if self.held_requests:
                    return self.held_requests[0]
            time.sleep(0.01)
        raise AssertionError("no request reached the proxy while it hung")

    def _accept(self):
        while not self.closed.is_set():
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            try:
                u = socket.create_connection(self.target, timeout=5)
                u.settimeout(None)
            except OSError:
                c.close()
                continue
            with self.lock:
                self.connections += 1
                self.socks += [c, u]
            threading.Thread(target=self._pump, args=(c, u, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(u, c, False), daemon=True).start()

    def _pump(self, src, dst, from_client):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if self.hanging.is_set() and from_client:
                    first = data.split(b"\r\n", 1)[0]
                    line = ("<TLS handshake>" if data[:1] == b"\x16" else
                            "<TLS>" if data[:1] == b"\x17" else first.decode(errors="replace"))
                    with self.lock:
                        self.held_requests.append(line)
                while self.hanging.is_set() and not self.closed.is_set():
                    time.sleep(0.01)
                if self.closed.is_set():
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.closed.set()
        self.hanging.clear()
        try:
            self.lsock.close()
        except OSError:
            pass
        with self.lock:
            for s in self.socks:
                try:
                    s.close()
                except OSError:
                    pass
