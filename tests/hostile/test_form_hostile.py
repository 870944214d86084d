"""Hostile schemas and requests under ``tc form`` (issue 28, items 1 and 3).

Each case starts the real ``tc form --no-browser`` in a subprocess (the URL line is the
readiness marker), talks to it over HTTP like the page does, and checks: no hang (a save that
does not answer within the deadline is a failure), no network and nothing read outside the
project ($ref), one clear refusal, and nothing written.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.hostile.conftest import tdir
from tests.hostile.harness import env_for
from tests.httpserve import recording_server

#: seconds a save may take before it counts as a hang
SAVE_DEADLINE = 20


@dataclass
class Form:
    proc: subprocess.Popen[bytes]
    url: str | None
    output: str

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, Any]:
        assert self.url is not None
        req = urllib.request.Request(self.url + path, data=body, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=SAVE_DEADLINE) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())
        except TimeoutError:
            raise AssertionError(f"{method} {path}: no answer within {SAVE_DEADLINE} s (hang)") from None
        except (ConnectionError, urllib.error.URLError) as exc:
            raise AssertionError(f"{method} {path}: connection failed ({exc}): the server "
                                 "crashed on the request") from None

    def save(self, data: Any, raw: bytes | None = None) -> tuple[int, Any]:
        body = raw if raw is not None else json.dumps({"formData": data}).encode()
        return self.request("POST", "api/save", body)


def _start(proj: Path, *extra: str) -> Form:
    """``tc form PROJ --no-browser``: the URL once it is printed, or the exit and output."""
    env = env_for(proj.parent)
    proc = subprocess.Popen([sys.executable, "-m", "tcli", "form", str(proj), "--no-browser", *extra],
                            cwd=proj.parent, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    sel = selectors.DefaultSelector()
    sel.register(fd, selectors.EVENT_READ)
    raw = b""
    while True:  # wait for the readiness marker (the URL line) or the exit
        if not sel.select(timeout=120):
            proc.kill()
            raise AssertionError(f"tc form printed nothing for 120 s: {raw.decode(errors='replace')}")
        chunk = os.read(fd, 65536)
        raw += chunk
        out = raw.decode("utf-8", "replace")
        for line in out.splitlines():
            if line.startswith("open http://"):
                return Form(proc, line.split()[1], out)
        if not chunk:
            proc.wait(timeout=60)
            return Form(proc, None, out)


@pytest.fixture()
def forms() -> Iterator[list[Form]]:
    started: list[Form] = []
    yield started
    for f in started:
        if f.proc.poll() is None:
            f.proc.terminate()
            try:
                f.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                f.proc.kill()
                f.proc.wait()


@pytest.fixture()
def http_server() -> Iterator[tuple[str, list[str]]]:
    """A real HTTP server on 127.0.0.1 that records every request it gets."""
    with recording_server(b'{"type": "string", "const": "from-the-network"}') as served:
        yield served


def _schema_path(proj: Path) -> Path:
    return tdir(proj) / "config" / "config.jsonschema"


def _config_path(proj: Path) -> Path:
    return tdir(proj) / "config" / "train_config.json"


def _edit_schema(proj: Path, fn: Any) -> None:
    path = _schema_path(proj)
    data = json.loads(path.read_text())
    fn(data)
    path.write_text(json.dumps(data, indent=2) + "\n")


def _current(proj: Path) -> dict[str, Any]:
    return dict(json.loads(_config_path(proj).read_text()))


def _started(proj: Path, forms: list[Form]) -> Form:
    f = _start(proj)
    forms.append(f)
    assert f.url is not None, f"tc form did not start: {f.output}"
    return f


def _refused_at_start(proj: Path, forms: list[Form], message: str) -> str:
    """tc form must exit 2 with one error line matching ``message`` (it must not serve)."""
    f = _start(proj)
    forms.append(f)
    assert f.url is None, f"tc form served a schema tc validate refuses: {f.output}"
    assert f.proc.returncode == 2, f.output
    errors = [ln for ln in f.output.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], f.output
    assert "Traceback" not in f.output
    return errors[0]


# ------------------------------------------------------------------ regexes under a budget


def _catastrophic_property(proj: Path) -> None:
    def edit(s: dict[str, Any]) -> None:
        s["properties"]["architecture"].pop("enum", None)
        s["properties"]["architecture"]["pattern"] = "^(a|aa)+$"
    _edit_schema(proj, edit)


def test_save_with_catastrophic_pattern_answers_and_frees_the_lock(proj: Path, forms: list[Form]) -> None:
    _catastrophic_property(proj)
    before = _config_path(proj).read_bytes()
    f = _started(proj, forms)
    code, reply = f.save({**_current(proj), "architecture": "a" * 60 + "!"})
    assert code == 422 and not reply["ok"], reply
    assert any("longer than" in e["message"] for e in reply["errors"]), reply
    assert _config_path(proj).read_bytes() == before
    code, reply = f.save({**_current(proj), "architecture": "aaaa"})  # the lock is free again
    assert code == 200 and reply["ok"], reply


def test_save_with_catastrophic_pattern_properties_key(proj: Path, forms: list[Form]) -> None:
    _edit_schema(proj, lambda s: s.update(patternProperties={"^(a|aa)+$": {"type": "integer"}}))
    f = _started(proj, forms)
    code, reply = f.save({**_current(proj), "a" * 60 + "!": 1})
    assert code == 422 and not reply["ok"], reply


# ------------------------------------------------------------------ $ref: never fetched


def test_remote_ref_is_refused_and_never_fetched(proj: Path, forms: list[Form],
                                                 http_server: tuple[str, list[str]]) -> None:
    url, hits = http_server
    _edit_schema(proj, lambda s: s["properties"].update(leak={"$ref": f"{url}/leak.json"}))
    _refused_at_start(proj, forms, "remote references are not followed")
    assert hits == []


def test_ref_relative_to_a_remote_id_is_refused(proj: Path, forms: list[Form],
                                               http_server: tuple[str, list[str]]) -> None:
    url, hits = http_server

    def edit(s: dict[str, Any]) -> None:
        s["$id"] = f"{url}/base/schema.json"
        s["properties"]["leak"] = {"$ref": "leak.json"}
    _edit_schema(proj, edit)
    _refused_at_start(proj, forms, "remote $id")
    assert hits == []


def test_file_ref_outside_the_project_is_refused(proj: Path, forms: list[Form]) -> None:
    secret = proj.parent / "outside-secret.json"
    secret.write_text('{"type": "string", "const": "TOP-SECRET-VALUE"}')
    _edit_schema(proj, lambda s: s["properties"].update(leak={"$ref": secret.as_uri()}))
    line = _refused_at_start(proj, forms, "outside the project")
    assert "TOP-SECRET-VALUE" not in line


def test_ref_to_another_project_file_is_refused_as_validate_does(proj: Path, forms: list[Form]) -> None:
    (tdir(proj) / "config" / "other.json").write_text('{"type": "string"}')
    _edit_schema(proj, lambda s: s["properties"].update(leak={"$ref": "other.json"}))
    _refused_at_start(proj, forms, "refers to another file")


# ------------------------------------------------------------------ what a save may write


@pytest.mark.parametrize("key", ["help", "--output-dir"])
def test_key_the_schema_does_not_describe_is_refused(proj: Path, forms: list[Form], key: str) -> None:
    before = _config_path(proj).read_bytes()
    f = _started(proj, forms)
    code, reply = f.save({**_current(proj), key: "/tmp/elsewhere"})
    assert code == 422 and not reply["ok"], reply
    assert [e["pointer"] for e in reply["errors"]] == ["/" + key], reply
    assert "not a property" in reply["errors"][0]["message"]
    assert _config_path(proj).read_bytes() == before


@pytest.mark.parametrize("word", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_number_in_the_body_is_refused(proj: Path, forms: list[Form], word: str) -> None:
    before = _config_path(proj).read_bytes()
    f = _started(proj, forms)
    cur = _current(proj)
    body = json.dumps({"formData": {**cur, "img-size": 0}}).replace('"img-size": 0',
                                                                      f'"img-size": {word}')
    code, reply = f.save(None, raw=body.encode())
    assert code == 400 and not reply["ok"], reply
    assert word in reply["message"] and "not valid JSON" in reply["message"], reply
    assert _config_path(proj).read_bytes() == before


def test_overflowing_number_is_refused(proj: Path, forms: list[Form]) -> None:
    """``1e400`` parses as Infinity: it must not be written as ``Infinity``."""
    _edit_schema(proj, lambda s: s["properties"]["img-size"].pop("maximum", None))
    _edit_schema(proj, lambda s: s["properties"]["img-size"].update(type="number"))
    before = _config_path(proj).read_bytes()
    f = _started(proj, forms)
    body = json.dumps({"formData": {**_current(proj), "img-size": 1}}).replace(
        '"img-size": 1', '"img-size": 1e400')
    code, reply = f.save(None, raw=body.encode())
    assert code == 422 and not reply["ok"], reply
    assert "finite" in json.dumps(reply)
    assert _config_path(proj).read_bytes() == before


def test_deeply_nested_body_is_one_clear_refusal(proj: Path, forms: list[Form]) -> None:
    f = _started(proj, forms)
    n = 100_000
    body = b'{"formData": {"x": ' + b"[" * n + b"]" * n + b"}}"
    code, reply = f.save(None, raw=body)
    assert code == 400 and "nested" in reply["message"], reply
    code, reply = f.request("GET", "api/form")  # still serving
    assert code == 200


def test_non_utf8_is_no_crash(proj: Path, forms: list[Form]) -> None:
    """(control) bytes that are not UTF-8: a 400, the server keeps serving."""
    f = _started(proj, forms)
    code, reply = f.save(None, raw=b'{"formData": {"x": "\xff"}}')
    assert code == 400 and not reply["ok"], reply
    assert f.proc.poll() is None
