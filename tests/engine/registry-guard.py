#!/usr/bin/env python3
"""The engine suite's registry guard: the private dockerd runs with
HTTP_PROXY and HTTPS_PROXY pointing here (tests/engine/dockerd.sh), so every
registry request it makes, for a pull, a `FROM` that BuildKit resolves, a
login, on any host, arrives here first. Each is refused (403) and its
request line appended to LOG; test_zz_no_registry.py fails the suite on any
line but its own canary's.

    registry-guard.py LOG PORTFILE    listens on 127.0.0.1 (a free port,
                                      written to PORTFILE), until killed
"""
import os
import socketserver
import sys
import time

LOG, PORTFILE = sys.argv[1], sys.argv[2]


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        line = self.rfile.readline(8192).decode("latin-1").strip()
        with open(LOG, "a") as f:
            f.write(f"{time.strftime('%H:%M:%S')} {line}\n")
        self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


with Server(("127.0.0.1", 0), Handler) as srv:
    with open(PORTFILE + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(PORTFILE + ".tmp", PORTFILE)
    srv.serve_forever()
