"""tc weights add|list|verify|pull and tc validate's weights rule, exact output (NO_COLOR)."""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from tcli.cli import app
from tests.httpserve import routed_server

KEY = "Prov/Cat/Arch"
LOCK = f"templates/{KEY}/docker/weights.lock"


def _state_dict_bytes() -> bytes:
    """A generated tiny state_dict (no real weights anywhere)."""
    torch.manual_seed(0)
    buf = io.BytesIO()
    torch.save(torch.nn.Linear(4, 2).state_dict(), buf)
    return buf.getvalue()


BODY = _state_dict_bytes()
SHA = hashlib.sha256(BODY).hexdigest()


@pytest.fixture()
def proj(new_project: Callable[..., Path], tmp_path: Path,
         monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TC_CACHE_DIR", str(tmp_path / "cache"))
    root = new_project("classification")
    monkeypatch.chdir(root)
    return root


def _codes(validate_json: str) -> list[tuple[str, str]]:
    doc = json.loads(validate_json)
    return [(f["severity"], f["code"]) for f in doc["findings"]]


def _tc(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_add_from_http_pins_url_sha256_and_size(proj: Path, tmp_path: Path) -> None:
    with routed_server({"/tiny-weights.pth": (200, {}, BODY)}) as (base, hits):
        code, out, err = _tc("weights", "add", f"{base}/tiny-weights.pth")
    assert (code, err) == (0, ""), err
    assert hits == ["/tiny-weights.pth"]
    assert out == (f"downloading {base}/tiny-weights.pth\n"
                   f"added tiny-weights in {LOCK}: sha256 {SHA}, {len(BODY)} bytes\n")
    assert json.loads((proj / LOCK).read_text()) == {"version": 1, "weights": [
        {"name": "tiny-weights", "url": f"{base}/tiny-weights.pth", "sha256": SHA,
         "size": len(BODY), "source": f"{base}/tiny-weights.pth"}]}
    assert (tmp_path / "cache" / "weights" / "sha256" / SHA).read_bytes() == BODY
    code, out, _ = _tc("weights", "list")
    assert (code, out) == (0, f"tiny-weights  sha256 {SHA[:12]}…  {len(BODY)} bytes  "
                              f"{base}/tiny-weights.pth  cache: ok\n")


def test_add_from_a_file_with_a_name_then_verify(proj: Path, tmp_path: Path) -> None:
    src = tmp_path / "w.pth"
    src.write_bytes(BODY)
    code, out, err = _tc("weights", "add", str(src), "--name", "mine",
                         "--url", "https://example.com/w.pth")
    assert (code, err) == (0, ""), err
    assert out == f"added mine in {LOCK}: sha256 {SHA}, {len(BODY)} bytes\n"
    code, out, _ = _tc("weights", "verify")
    assert (code, out) == (0, f"mine: sha256 {SHA[:12]}… ok\n")
    code, out, err = _tc("validate")
    assert code == 0, out + err


def test_a_file_without_url_warns_and_validate_says_so(proj: Path, tmp_path: Path) -> None:
    src = tmp_path / "w.pth"
    src.write_bytes(BODY)
    code, _out, err = _tc("weights", "add", str(src))
    assert code == 0
    assert err == ("warning: w has no URL: only tc dev-run/tc build (host cache) or "
                   "'tc package --with-weights' can give it to a build; add --url URL\n")
    code, out, _ = _tc("validate", "--json")
    assert code == 0 and _codes(out) == [("warning", "weights.no-url")]


def test_a_tampered_cached_file_fails_verify_with_one_line(proj: Path, tmp_path: Path) -> None:
    src = tmp_path / "w.pth"
    src.write_bytes(BODY)
    assert _tc("weights", "add", str(src), "--name", "w")[0] == 0
    cached = tmp_path / "cache" / "weights" / "sha256" / SHA
    os.chmod(cached, 0o644)
    cached.write_bytes(BODY[:-1] + bytes([BODY[-1] ^ 1]))
    actual = hashlib.sha256(cached.read_bytes()).hexdigest()
    code, out, err = _tc("weights", "verify")
    assert (code, out) == (1, "")
    assert err == (f"error: w: {cached}: sha256 is {actual[:16]}…, weights.lock says "
                   f"{SHA[:16]}…\nhint: fetch it again with 'tc weights pull'\n")
    code, out, _ = _tc("validate", "--json")
    assert code == 1 and ("error", "weights.cache-mismatch") in _codes(out)


def test_pull_fetches_again_what_the_cache_lost(proj: Path, tmp_path: Path) -> None:
    with routed_server({"/w.pth": (200, {}, BODY)}) as (base, hits):
        assert _tc("weights", "add", f"{base}/w.pth")[0] == 0
        (tmp_path / "cache" / "weights" / "sha256" / SHA).unlink()
        code, out, _ = _tc("weights", "pull")
        assert (code, out) == (0, f"w: downloaded (sha256 {SHA[:12]}…)\n")
        code, out, _ = _tc("weights", "pull")
    assert (code, out) == (0, f"w: cached (sha256 {SHA[:12]}…)\n")
    assert hits == ["/w.pth", "/w.pth"]


def test_torchvision_name_on_the_sklearn_template_is_refused(new_project: Callable[..., Path],
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             tmp_path: Path) -> None:
    monkeypatch.setenv("TC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(new_project("sklearn"))
    code, _out, err = _tc("weights", "add", "resnet18")
    assert code == 2
    assert err.startswith("error: Prov/Cat/Arch: docker/tc_weights.py is missing")
    assert not (tmp_path / "cache").exists()


def test_the_zip_holds_the_lock_and_the_file_only_with_weights(proj: Path, tmp_path: Path) -> None:
    import zipfile

    src = tmp_path / "w.pth"
    src.write_bytes(BODY)
    assert _tc("weights", "add", str(src), "--name", "w", "--url", "https://e.example/w.pth")[0] == 0
    docker = f"train-container-publish/{KEY}/docker"
    code, out, err = _tc("package", "-o", str(tmp_path / "small.zip"), "--verify")
    assert code == 0, out + err
    names = zipfile.ZipFile(tmp_path / "small.zip").namelist()
    assert f"{docker}/weights.lock" in names
    assert not [n for n in names if "/weights-" in n]
    code, out, err = _tc("package", "-o", str(tmp_path / "big.zip"), "--verify", "--with-weights")
    assert code == 0, out + err
    with zipfile.ZipFile(tmp_path / "big.zip") as zf:
        assert zf.read(f"{docker}/weights-{SHA}") == BODY
    (tmp_path / "cache" / "weights" / "sha256" / SHA).unlink()
    code, out, err = _tc("package", "-o", str(tmp_path / "none.zip"), "--with-weights")
    assert code == 2 and not (tmp_path / "none.zip").exists()
    assert err.startswith("error: --with-weights: w: not in the host cache")


def test_a_pinned_url_is_downloaded_once(proj: Path) -> None:
    with routed_server({"/w.pth": (200, {}, BODY)}) as (base, hits):
        assert _tc("weights", "add", f"{base}/w.pth")[0] == 0
        code, out, _ = _tc("weights", "add", f"{base}/w.pth", "--name", "again")
        assert hits == ["/w.pth"]
        assert (code, out) == (0, f"{base}/w.pth: pinned and in the host cache already, not "
                                  "downloaded (--refresh downloads it again)\n"
                                  f"added again in {LOCK}: sha256 {SHA}, {len(BODY)} bytes\n")
        assert _tc("weights", "add", f"{base}/w.pth", "--name", "again", "--refresh")[0] == 0
        assert hits == ["/w.pth", "/w.pth"]
    names = [e["name"] for e in json.loads((proj / LOCK).read_text())["weights"]]
    assert names == ["w", "again"]
