"""The local server of ``tc form`` (standard library ``http.server``; no Typer, no Rich).

* binds 127.0.0.1 only, on a random free port unless one is given;
* every URL starts with a one-time token (``/<token>/``, 32 random bytes, new per start);
  a request without it, or with a Host header other than 127.0.0.1/localhost on our port
  (DNS rebinding), gets 403 and nothing else;
* serves the prebuilt page (``static/index.html``, ``form.js``, ``form.css``), answers
  ``GET api/form`` (schema + current config) and ``POST api/save`` (validate, then write the
  one config file the target names; the request never names a path);
* refuses any path with a ``..`` segment (also percent-encoded) or a backslash with 400.
"""

from __future__ import annotations

import hmac
import json
import secrets
import threading
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from tcli.errors import InputError
from tcli.form import document
from tcli.safety import jsonload

HOST = "127.0.0.1"
STATIC = Path(__file__).resolve().parent / "static"
FILES = {"": ("index.html", "text/html; charset=utf-8"),
         "index.html": ("index.html", "text/html; charset=utf-8"),
         "form.js": ("form.js", "text/javascript; charset=utf-8"),
         "form.css": ("form.css", "text/css; charset=utf-8")}
MAX_BODY = 1024 * 1024
HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": ("default-src 'none'; script-src 'self' 'unsafe-eval'; "
                                "style-src 'self' 'unsafe-inline'; connect-src 'self'; "
                                "img-src 'self' data:; form-action 'none'; frame-ancestors 'none'"),
}


def _has_dotdot(path: str) -> bool:
    decoded = path
    for _ in range(3):  # %252e%252e etc.
        decoded = unquote(decoded)
    return "\\" in decoded or any(seg in ("..", ".") for seg in decoded.split("/")[1:-1]) \
        or decoded.split("/")[-1] in ("..", ".")


class _Handler(BaseHTTPRequestHandler):
    server: FormHTTPServer
    server_version = "tc-form"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        """No access log: its lines would carry the token; saves are reported by the caller."""

    # ---- replies
    def _send(self, code: int, body: bytes, ctype: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in HEADERS.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, code: int, data: Any) -> None:
        self._send(code, json.dumps(data).encode("utf-8"), "application/json")

    def _refuse(self, code: int, message: str) -> None:
        self._json(code, {"ok": False, "message": message})

    # ---- routing
    def _route(self) -> str | None:
        """The path below ``/<token>/``, or None after refusing the request."""
        host = (self.headers.get("Host") or "").strip().lower()
        port = self.server.server_address[1]
        if host not in (f"{HOST}:{port}", f"localhost:{port}"):
            self._refuse(HTTPStatus.FORBIDDEN, "wrong Host header")
            return None
        raw = urlsplit(self.path).path
        if _has_dotdot(raw):
            self._refuse(HTTPStatus.BAD_REQUEST, "path with '..' refused")
            return None
        head, _, rest = raw.lstrip("/").partition("/")
        if not hmac.compare_digest(head.encode(), self.server.token.encode()):
            self._refuse(HTTPStatus.FORBIDDEN, "missing or wrong token")
            return None
        return rest

    def do_GET(self) -> None:
        rest = self._route()
        if rest is None:
            return
        if rest in FILES:
            name, ctype = FILES[rest]
            self._send(HTTPStatus.OK, (STATIC / name).read_bytes(), ctype)
        elif rest == "api/form":
            try:
                self._json(HTTPStatus.OK, document.state(self.server.target))
            except InputError as exc:
                self._refuse(HTTPStatus.CONFLICT, exc.message)
        else:
            self._refuse(HTTPStatus.NOT_FOUND, "not found")

    do_HEAD = do_GET

    def do_POST(self) -> None:
        rest = self._route()
        if rest is None:
            return
        if rest != "api/save":
            self._refuse(HTTPStatus.NOT_FOUND, "not found")
            return
        if (self.headers.get("Content-Type") or "").split(";")[0].strip() != "application/json":
            self._refuse(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send application/json")
            return
        try:
            length = int(self.headers.get("Content-Length") or "0")
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            if 0 < length <= 4 * MAX_BODY:
                # read (and drop) a body a little over the limit, so the client gets the 413
                # instead of a broken pipe; a larger one is cut off with the connection
                self.rfile.read(length)
            self.close_connection = True
            self._refuse(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "body missing or too large")
            return
        try:  # size, depth, duplicate keys, NaN/Infinity: refused with one line
            body = jsonload.loads(self.rfile.read(length), name="request body", max_bytes=MAX_BODY)
        except InputError as exc:
            self._refuse(HTTPStatus.BAD_REQUEST, exc.message)
            return
        if not isinstance(body, dict) or set(body) != {"formData"}:
            self._refuse(HTTPStatus.BAD_REQUEST, "expected exactly {\"formData\": {...}}")
            return
        with self.server.lock:
            try:
                result = document.save(self.server.target, body["formData"])
            except InputError as exc:
                self._refuse(HTTPStatus.CONFLICT, exc.message)
                return
        if result.ok:
            if self.server.log is not None:
                self.server.log(f"saved {result.file}")
            self._json(HTTPStatus.OK, {"ok": True, "file": result.file})
        else:
            self._json(HTTPStatus.UNPROCESSABLE_ENTITY,
                       {"ok": False, "file": result.file, "errors": result.errors})


class FormHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, target: document.FormTarget, port: int = 0,
                 log: Any = None) -> None:
        self.target = target
        self.token = secrets.token_urlsafe(32)
        self.lock = threading.Lock()
        self.log = log
        super().__init__((HOST, port), _Handler)


@dataclass
class FormServer:
    """A started server (``serve`` blocks; ``start`` runs it in a thread, for tests)."""

    httpd: FormHTTPServer

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.httpd.server_address[1]}/{self.httpd.token}/"

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def serve(self) -> None:
        self.httpd.serve_forever(poll_interval=0.2)

    def start(self) -> FormServer:
        threading.Thread(target=self.serve, name="tc-form", daemon=True).start()
        return self

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def make_server(path: Path, template: str | None = None, export: bool = False,
                port: int = 0, log: Any = None) -> FormServer:
    """Load the target (InputError when unusable) and bind 127.0.0.1:``port`` (0 = random)."""
    if not 0 <= port <= 65535:
        raise InputError(f"--port {port}: not a port number", "use 1-65535, or omit it")
    target = document.load_target(path, template, export)
    try:
        httpd = FormHTTPServer(target, port, log)
    except OSError as exc:
        raise InputError(f"--port {port}: cannot listen on {HOST}:{port} ({exc.strerror})",
                         "choose another port, or omit --port for a random one") from None
    return FormServer(httpd)
