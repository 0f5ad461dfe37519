"""Helpers for test_auth.py: OpenBao API calls with namespace and wrapping
headers, RS256 JWTs signed with the `cryptography` package, and a tiny
Kubernetes TokenReview endpoint for OpenBao's kubernetes auth method."""
from __future__ import annotations

import base64
import json
import secrets
import ssl
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa


def api(bao, method, path, body=None, *, ns=None, token=None, no_token=False, wrap_ttl=None):
    """(status, JSON or None) of one request to BAO; never raises on a status."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"{bao.addr}/v1/{path.lstrip('/')}", data=data, method=method)
    req.add_header("X-Vault-Request", "true")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if not no_token:
        req.add_header("X-Vault-Token", token or bao.token)
    if ns:
        req.add_header("X-Vault-Namespace", ns)
    if wrap_ttl:
        req.add_header("X-Vault-Wrap-TTL", wrap_ttl)
    ctx = ssl.create_default_context(cafile=bao.ca) if bao.addr.startswith("https:") else None
    try:
        with urllib.request.urlopen(req, timeout=10, context=ctx) as r:
            raw, status = r.read(), r.status
    except urllib.error.HTTPError as e:
        raw, status = e.read(), e.code
    return status, (json.loads(raw) if raw else None)


def ok(bao, method, path, body=None, **kw):
    """api() that insists on 200/204 and returns the JSON."""
    deadline = time.monotonic() + 15
    while True:
        st, js = api(bao, method, path, body, **kw)
        if st in (200, 204):
            return js
        # A KV v2 mount enabled a moment ago answers 400 "Upgrading ..." for a while.
        if st == 400 and "pgrading" in json.dumps(js) and time.monotonic() < deadline:
            time.sleep(0.1)
            continue
        raise AssertionError(f"{method} {path} -> {st}: {js}")


# ---------------------------------------------------------------------------
# AppRole
# ---------------------------------------------------------------------------


class AppRole:
    """An approle mount with helpers to make roles and secret IDs."""

    def __init__(self, bao, mount, ns=None):
        self.bao, self.mount, self.ns = bao, mount, ns
        ok(bao, "POST", f"sys/auth/{mount}", {"type": "approle"}, ns=ns)

    def role(self, name, policies, **extra):
        ok(self.bao, "POST", f"auth/{self.mount}/role/{name}",
           {"token_policies": list(policies), "token_ttl": "10m", **extra}, ns=self.ns)
        js = ok(self.bao, "GET", f"auth/{self.mount}/role/{name}/role-id", ns=self.ns)
        return js["data"]["role_id"]

    def secret_id(self, name):
        js = ok(self.bao, "POST", f"auth/{self.mount}/role/{name}/secret-id", {}, ns=self.ns)
        return js["data"]["secret_id"]

    def wrapped_secret_id(self, name, ttl="60s"):
        js = ok(self.bao, "POST", f"auth/{self.mount}/role/{name}/secret-id", {}, ns=self.ns, wrap_ttl=ttl)
        return js["wrap_info"]["token"]


def token_accessors(bao) -> set[str]:
    js = ok(bao, "LIST", "auth/token/accessors")
    return set(js["data"]["keys"])


def tokens_of_role(bao, accessors, role) -> list[dict]:
    """Lookup data of the live tokens among ACCESSORS issued to approle ROLE."""
    out = []
    for a in accessors:
        st, js = api(bao, "POST", "auth/token/lookup-accessor", {"accessor": a})
        if st == 200 and ((js["data"].get("meta") or {}).get("role_name") == role):
            out.append(js["data"])
    return out


# ---------------------------------------------------------------------------
# JWT
# ---------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class JwtSigner:
    """An RSA key pair; signs RS256 JWTs."""

    def __init__(self):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = secrets.token_hex(4)

    @property
    def public_pem(self) -> str:
        return self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    def sign(self, claims: dict) -> str:
        header = {"alg": "RS256", "typ": "JWT", "kid": self.kid}
        signing_input = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())
        sig = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + _b64(sig)


def unsigned_sa_jwt(ns: str, sa: str, uid: str, aud=None) -> str:
    """A projected service-account token as kubelet writes it.  OpenBao's
    kubernetes method reads its claims without checking the signature
    (the TokenReview call does the checking), so any signature will do;
    a random one also makes each token unique."""
    now = int(time.time())
    claims = {
        "iss": "https://kubernetes.default.svc.cluster.local",
        "sub": f"system:serviceaccount:{ns}:{sa}",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "kubernetes.io": {"namespace": ns, "serviceaccount": {"name": sa, "uid": uid}},
    }
    if aud:
        claims["aud"] = aud
    header = {"alg": "RS256", "kid": "test"}
    return _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode()) + "." + _b64(
        secrets.token_bytes(64)
    )


# ---------------------------------------------------------------------------
# Kubernetes TokenReview
# ---------------------------------------------------------------------------


class TokenReviewServer:
    """POST /apis/authentication.k8s.io/v1/tokenreviews over plain HTTP.
    A token registered with accept() is authenticated as its service
    account; anything else is not.  The reviewer's own bearer token must be
    REVIEWER_JWT.  Every review is recorded in .reviews."""

    def __init__(self, reviewer_jwt: str):
        self.reviewer_jwt = reviewer_jwt
        self.accepted: dict[str, tuple[str, str, str]] = {}
        self.reviews: list[dict] = []
        self.lock = threading.Lock()
        outer = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                req = json.loads(self.rfile.read(n) or b"{}")
                auth = self.headers.get("Authorization", "")
                spec = req.get("spec", {})
                with outer.lock:
                    outer.reviews.append({"path": self.path, "authorization": auth, "spec": spec})
                    who = outer.accepted.get(spec.get("token"))
                if self.path != "/apis/authentication.k8s.io/v1/tokenreviews":
                    return self._send(404, {"kind": "Status", "code": 404})
                if auth != f"Bearer {outer.reviewer_jwt}":
                    return self._send(401, {"kind": "Status", "code": 401, "message": "Unauthorized"})
                status = {"authenticated": False, "user": {}, "error": "token not known"}
                if who:
                    ns, sa, uid = who
                    status = {
                        "authenticated": True,
                        "user": {
                            "username": f"system:serviceaccount:{ns}:{sa}",
                            "uid": uid,
                            "groups": ["system:serviceaccounts", f"system:serviceaccounts:{ns}"],
                        },
                        # As the API server: the audiences the token is valid for.
                        "audiences": spec.get("audiences") or [],
                    }
                self._send(201, {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                                 "spec": spec, "status": status})

            def _send(self, code, obj):
                data = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def accept(self, token, ns, sa, uid):
        with self.lock:
            self.accepted[token] = (ns, sa, uid)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
