"""One recording HTTP server on 127.0.0.1 for the tests that prove tc never fetches a URL."""

from __future__ import annotations

import contextlib
import http.server
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def recording_server(body: bytes) -> Iterator[tuple[str, list[str]]]:
    """Serve ``body`` (JSON) to every GET; yield (base URL, the paths requested so far)."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}", hits
    finally:
        srv.shutdown()
        srv.server_close()


#: A route's answer: (status, headers, body); the body is sent as is (a lying Content-Length
#: header included), a ``None`` body sends the headers only and closes.
Reply = tuple[int, dict[str, str], bytes | None]


@contextlib.contextmanager
def routed_server(routes: dict[str, Reply]) -> Iterator[tuple[str, list[str]]]:
    """Serve each path of ``routes`` its reply (404 elsewhere); yield (base URL, the paths
    requested so far). ``{base}`` in a header value is replaced by the server's base URL; a
    ``X-No-Length`` header sends the body without a Content-Length (HTTP/1.0: read to EOF)."""
    hits: list[str] = []
    base: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            status, headers, body = routes.get(self.path, (404, {}, b"not found"))
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value.replace("{base}", base[0]))
            if body is not None and not {"Content-Length", "X-No-Length"} & set(headers):
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body is not None:
                with contextlib.suppress(OSError):
                    self.wfile.write(body)
            self.close_connection = True

        def log_message(self, *args: object) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    base.append(f"http://127.0.0.1:{srv.server_address[1]}")
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield base[0], hits
    finally:
        srv.shutdown()
        srv.server_close()
