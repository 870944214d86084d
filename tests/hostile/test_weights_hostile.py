"""Hostile input to ``tc weights`` and to a project's ``weights.lock``: a lying server, a
redirect out of loopback, URLs that are not http(s), a lock from someone else (bad sha256,
file:// URL, linked outside the project). Each: exit 2 (validate: 1), one line, nothing
cached, nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import copy_project
from tests.hostile.conftest import Guard
from tests.hostile.harness import assert_clean_failure, assert_finding, env_for, tc
from tests.httpserve import routed_server

KEY = "Prov/Cat/Arch"
SHA = "ab" * 32


@pytest.fixture()
def cls_proj(tmp_path: Path) -> Path:
    return copy_project("classification", tmp_path / "proj", git=True)


def _lock(project: Path) -> Path:
    return project / "templates" / KEY / "docker" / "weights.lock"


def _env(tmp_path: Path) -> dict[str, str]:
    return env_for(tmp_path, TC_CACHE_DIR=str(tmp_path / "cache"))


def _no_cache(tmp_path: Path) -> None:
    folder = tmp_path / "cache" / "weights" / "sha256"
    assert not folder.exists() or list(folder.iterdir()) == []


def test_a_huge_content_length_is_refused_before_the_body(tmp_path: Path, cls_proj: Path,
                                                          guard: Guard) -> None:
    guard.start(tmp_path / "cache")
    with routed_server({"/w.pth": (200, {"Content-Length": str(10**13)}, b"")}) as (base, hits):
        r = tc("weights", "add", f"{base}/w.pth", cwd=cls_proj, env=_env(tmp_path))
    guard.check()
    assert_clean_failure(r, 2, r"Content-Length 10000000000000 bytes is over the limit")
    assert hits == ["/w.pth"]
    _no_cache(tmp_path)


@pytest.mark.parametrize("target", ["http://203.0.113.5/w.pth", "http://weights.example/w.pth",
                                    "file:///etc/passwd"])
def test_a_redirect_out_of_loopback_is_refused(tmp_path: Path, cls_proj: Path, guard: Guard,
                                               target: str) -> None:
    guard.start(tmp_path / "cache")
    with routed_server({"/w.pth": (302, {"Location": target}, b"")}) as (base, hits):
        r = tc("weights", "add", f"{base}/w.pth", cwd=cls_proj, env=_env(tmp_path))
    guard.check()
    assert_clean_failure(r, 2, r"redirect .*refused|only http and https")
    assert hits == ["/w.pth"]
    _no_cache(tmp_path)


def test_a_redirect_within_loopback_is_followed(tmp_path: Path, cls_proj: Path) -> None:
    routes = {"/a": (302, {"Location": "{base}/b-0123.pth"}, b""), "/b-0123.pth": (200, {}, b"w")}
    with routed_server(routes) as (base, hits):
        r = tc("weights", "add", f"{base}/a", "--name", "w", cwd=cls_proj, env=_env(tmp_path))
    assert r.rc == 0, r.stderr
    assert hits == ["/a", "/b-0123.pth"]
    assert json.loads(_lock(cls_proj).read_text())["weights"][0]["url"] == f"{base}/a"


@pytest.mark.parametrize("source, message", [
    ("file:///etc/passwd", r"file:// URLs are not downloaded"),
    ("ftp://127.0.0.1/w.pth", r"only http and https"),
    ("http://user:secret@127.0.0.1:9/w.pth", r"user name or password"),
    ("http://127.0.0.1:9/w.pth?X-Amz-Credential=AKIAQWERTYUIOPASDFGH%2F20240101",
     r"looks like a secret \(AWS Access Key\)"),
])
def test_sources_that_are_not_plain_http_urls(tmp_path: Path, cls_proj: Path, guard: Guard,
                                              source: str, message: str) -> None:
    guard.start(tmp_path / "cache")
    r = tc("weights", "add", source, cwd=cls_proj, env=_env(tmp_path))
    guard.check()
    assert_clean_failure(r, 2, message)


def test_a_name_that_is_a_path_is_refused(tmp_path: Path, cls_proj: Path, guard: Guard) -> None:
    (tmp_path / "w.pth").write_bytes(b"w")
    guard.start(tmp_path / "cache")
    r = tc("weights", "add", str(tmp_path / "w.pth"), "--name", "../../x", cwd=cls_proj,
           env=_env(tmp_path))
    guard.check()
    assert_clean_failure(r, 2, r"--name '\.\./\.\./x'")


@pytest.mark.parametrize("entry, message", [
    ({"name": "w", "url": "https://example.com/w.pth", "sha256": "xyz", "size": 1},
     r"sha256 'xyz' is not 64 lowercase hex digits"),
    ({"name": "w", "url": "file:///etc/passwd", "sha256": SHA, "size": 1},
     r"only http and https"),
    ({"name": "w", "url": "../../../etc/passwd", "sha256": SHA, "size": 1},
     r"only http and https"),
])
def test_a_hostile_lock_is_refused_by_every_command(tmp_path: Path, cls_proj: Path,
                                                    guard: Guard, entry: dict[str, object],
                                                    message: str) -> None:
    _lock(cls_proj).write_text(json.dumps({"version": 1, "weights": [entry]}))
    (tmp_path / "w.pth").write_bytes(b"w")
    guard.start(tmp_path / "cache")
    env = _env(tmp_path)
    with routed_server({}) as (_base, hits):
        for args in (("weights", "verify"), ("weights", "pull"), ("weights", "list"),
                     ("weights", "add", str(tmp_path / "w.pth"))):
            assert_clean_failure(tc(*args, cwd=cls_proj, env=env), 2, message)
        assert_finding(tc("validate", "--json", cwd=cls_proj, env=env),
                       r"weights\.lock-invalid", message)
    guard.check()
    assert hits == []
    _no_cache(tmp_path)


def test_a_lock_linked_outside_the_project_is_neither_read_nor_written(
        tmp_path: Path, cls_proj: Path, guard: Guard) -> None:
    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps({"version": 1, "weights": []}))
    _lock(cls_proj).symlink_to(outside)
    (tmp_path / "w.pth").write_bytes(b"w")
    guard.start(tmp_path / "cache")
    r = tc("weights", "add", str(tmp_path / "w.pth"), cwd=cls_proj, env=_env(tmp_path))
    guard.check()
    assert_clean_failure(r, 2, r"weights\.lock: leads outside the project")
    assert json.loads(outside.read_text()) == {"version": 1, "weights": []}


def test_a_server_that_never_answers_times_out(tmp_path: Path, cls_proj: Path,
                                               guard: Guard) -> None:
    """A server that accepts, reads the request and stays silent: tc gives up after
    --timeout seconds of silence (exit 2, one line), never hangs."""
    import socket
    import threading

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    release = threading.Event()
    held: list[socket.socket] = []

    def hold() -> None:
        conn, _ = srv.accept()
        held.append(conn)
        conn.recv(4096)
        release.wait(120)

    threading.Thread(target=hold, daemon=True).start()
    guard.start(tmp_path / "cache")
    try:
        r = tc("weights", "add", f"http://127.0.0.1:{srv.getsockname()[1]}/w.pth",
               "--timeout", "2", cwd=cls_proj, env=_env(tmp_path))
    finally:
        release.set()
        for conn in held:
            conn.close()
        srv.close()
    guard.check()
    assert_clean_failure(r, 2, r"w\.pth: cannot download: timed out")
    _no_cache(tmp_path)
