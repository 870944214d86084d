"""The tc form server: 127.0.0.1 only, the token on every request, never a write outside."""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tcli.errors import InputError
from tcli.form.server import FormServer, make_server
from tests.waits import SAFETY_NET


@pytest.fixture()
def server(project: Path) -> Iterator[FormServer]:
    srv = make_server(project).start()
    yield srv
    srv.close()


def _req(srv: FormServer, method: str, path: str, body: Any = None,
         headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=SAFETY_NET)
    data = json.dumps(body).encode() if body is not None and not isinstance(body, bytes) else body
    hdrs = {"Content-Type": "application/json"} if data is not None else {}
    hdrs.update(headers or {})
    conn.request(method, path, body=data, headers=hdrs)
    resp = conn.getresponse()
    out = resp.status, resp.read()
    conn.close()
    return out


def _config(project: Path) -> Path:
    return next(project.glob("templates/*/*/*/config/train_config.json"))


def test_listens_on_loopback_only(server: FormServer) -> None:
    assert server.httpd.server_address[0] == "127.0.0.1"
    assert server.url.startswith(f"http://127.0.0.1:{server.port}/")
    # another local address of this machine (not loopback) is refused at connect time
    hostname_ip = None
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # TEST-NET: no packet is sent for a UDP connect
            hostname_ip = s.getsockname()[0]
    except OSError:
        pass
    if hostname_ip and not hostname_ip.startswith("127."):
        with pytest.raises(OSError):
            socket.create_connection((hostname_ip, server.port), timeout=3).close()


def test_random_port_and_fresh_token_per_start(project: Path) -> None:
    a, b = make_server(project), make_server(project)
    try:
        assert a.port != b.port and a.httpd.token != b.httpd.token
        assert len(a.httpd.token) >= 40
    finally:
        a.httpd.server_close()
        b.httpd.server_close()


def test_refuses_requests_without_the_token(server: FormServer, project: Path) -> None:
    token = server.httpd.token
    before = _config(project).read_bytes()
    for method, path in [("GET", "/"), ("GET", "/form.js"), ("GET", "/api/form"),
                         ("GET", f"/{token[:-1]}x/api/form"), ("GET", f"/x{token}/"),
                         ("POST", "/api/save"), ("POST", f"/{token[:-2]}/api/save")]:
        body = {"formData": {}} if method == "POST" else None
        status, data = _req(server, method, path, body)
        assert status == 403, (method, path, status)
        assert b"schema" not in data and b"properties" not in data
    assert _config(project).read_bytes() == before
    status, data = _req(server, "GET", f"/{token}/api/form")
    assert status == 200 and json.loads(data)["schema"]["properties"]


def test_wrong_host_header_is_refused(server: FormServer) -> None:
    status, _ = _req(server, "GET", f"/{server.httpd.token}/api/form", headers={"Host": "evil.example"})
    assert status == 403


def test_cannot_write_outside_the_project(server: FormServer, project: Path, tmp_path: Path) -> None:
    token = server.httpd.token
    outside = tmp_path / "outside.json"
    good = json.loads(_config(project).read_text())
    before = {p: p.read_bytes() for p in tmp_path.rglob("*.json") if p.is_file()}
    crafted = [f"/{token}/api/save/../../../outside.json", f"/{token}/../outside.json",
               f"/{token}/api/%2e%2e/%2e%2e/outside.json", f"/{token}/api/..%2fsave",
               f"/{token}/api/%252e%252e/save", f"/{token}/..%5csave", f"/{token}/api\\..\\save"]
    for path in crafted:
        status, _ = _req(server, "POST", path, {"formData": good})
        assert status in (400, 404), (path, status)
    # the body cannot name a file either
    status, _ = _req(server, "POST", f"/{token}/api/save", {"formData": good, "file": "../../x.json"})
    assert status == 400
    assert not outside.exists()
    after = {p: p.read_bytes() for p in tmp_path.rglob("*.json") if p.is_file()}
    assert after == before


def test_config_linked_outside_is_refused(project: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim.json"
    victim.write_text("{}\n")
    cfg = _config(project)
    cfg.unlink()
    cfg.symlink_to(victim)
    with pytest.raises(InputError, match="outside the project"):
        make_server(project)
    assert victim.read_text() == "{}\n"


def test_save_validates_and_writes(server: FormServer, project: Path) -> None:
    token = server.httpd.token
    cfg = _config(project)
    original = cfg.read_text()
    data = json.loads(original)
    status, body = _req(server, "POST", f"/{token}/api/save", {"formData": {**data, "img-size": 2}})
    assert status == 422
    errors = json.loads(body)["errors"]
    assert errors == [{"pointer": "/img-size", "message": "2 is less than the minimum of 4"}]
    assert cfg.read_text() == original
    status, body = _req(server, "POST", f"/{token}/api/save", {"formData": {**data, "img-size": 8}})
    assert status == 200 and json.loads(body) == {"ok": True, "file": cfg.relative_to(project).as_posix()}
    assert cfg.read_text() == original.replace('"img-size": 16', '"img-size": 8')


def test_bad_bodies_are_refused(server: FormServer) -> None:
    token = server.httpd.token
    assert _req(server, "POST", f"/{token}/api/save", b"not json")[0] == 400
    assert _req(server, "POST", f"/{token}/api/save", [1, 2])[0] == 400
    assert _req(server, "POST", f"/{token}/api/save", b"{}", {"Content-Type": "text/plain"})[0] == 415
    assert _req(server, "POST", f"/{token}/api/save", b"x" * (1024 * 1024 + 1))[0] == 413
