"""docker/tc_weights.py, the in-image half of pinned weights: the Dockerfile's install step
(staged, downloaded, tampered) and train.py's ``pinned_weights`` call before loading."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
import torch

from tests.conftest import SCAFFOLDS
from tests.httpserve import routed_server

HELPER = SCAFFOLDS / "variants" / "torch_common" / "tc_weights.py"


def _pin(folder: Path, entries: list[tuple[str, bytes, str]], *, stage: bool = True) -> list[str]:
    """Write folder/weights.lock for (name, bytes, url) and stage the files; their sha256s."""
    folder.mkdir(parents=True, exist_ok=True)
    items, shas = [], []
    for name, body, url in entries:
        sha = hashlib.sha256(body).hexdigest()
        shas.append(sha)
        items.append({"name": name, "url": url, "sha256": sha, "size": len(body)})
        if stage:
            (folder / f"weights-{sha}").write_bytes(body)
    (folder / "weights.lock").write_text(json.dumps({"version": 1, "weights": items}))
    return shas


def _install(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(HELPER), "install", str(folder)],
                          capture_output=True, text=True, timeout=120, check=False)


def test_install_verifies_a_staged_file(tmp_path: Path) -> None:
    (sha,) = _pin(tmp_path, [("tiny", b"abc" * 50, "")])
    done = _install(tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"tc-weights: tiny sha256={sha} ok (staged by tc)\n"


def test_install_fails_a_tampered_staged_file_with_one_line(tmp_path: Path) -> None:
    (sha,) = _pin(tmp_path, [("tiny", b"abc" * 50, "")])
    (tmp_path / f"weights-{sha}").write_bytes(b"abd" * 50)  # same size, other bytes
    done = _install(tmp_path)
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"tc-weights: error: tiny: weights-{sha} has "
                                                   "sha256 "), lines
    assert lines[0].endswith(f"weights.lock says {sha}")


def test_install_downloads_what_is_not_staged(tmp_path: Path) -> None:
    body = b"weights" * 300
    with routed_server({"/w.pth": (200, {}, body)}) as (base, hits):
        (sha,) = _pin(tmp_path, [("tiny", body, f"{base}/w.pth")], stage=False)
        done = _install(tmp_path)
    assert done.returncode == 0, done.stderr
    assert hits == ["/w.pth"]
    assert (tmp_path / f"weights-{sha}").read_bytes() == body
    assert done.stdout == f"tc-weights: tiny sha256={sha} ok (downloaded from {base}/w.pth)\n"


def test_install_refuses_a_download_that_does_not_match(tmp_path: Path) -> None:
    with routed_server({"/w.pth": (200, {}, b"other bytes")}) as (base, _hits):
        (sha,) = _pin(tmp_path, [("tiny", b"the pinned bytes", f"{base}/w.pth")], stage=False)
        done = _install(tmp_path)
    assert done.returncode == 1
    assert len(done.stderr.splitlines()) == 1 and "weights.lock says " in done.stderr
    assert not (tmp_path / f"weights-{sha}").exists()


def test_install_without_file_and_url_fails_with_one_line(tmp_path: Path) -> None:
    _pin(tmp_path, [("tiny", b"abc", "")], stage=False)
    done = _install(tmp_path)
    assert done.returncode == 1
    assert done.stderr == ("tc-weights: error: tiny: no staged file and no URL in weights.lock "
                           "(tc package --with-weights ships it)\n")


@pytest.fixture()
def helper(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> ModuleType:
    import importlib.util

    monkeypatch.setenv("TC_WEIGHTS_DIR", str(tmp_path / "opt"))
    monkeypatch.delenv("RANK", raising=False)
    spec = importlib.util.spec_from_file_location("tc_weights_under_test", HELPER)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_only_entry_is_used_verified_and_logged(helper: ModuleType, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    (sha,) = _pin(tmp_path / "opt", [("tiny", b"abc", "https://example.com/tiny.pth")])
    assert helper.pinned_weights("") == str(tmp_path / "opt" / f"weights-{sha}")
    assert capsys.readouterr().out == (f"weights: tiny sha256={sha} "
                                       "(from https://example.com/tiny.pth)\n")


def test_several_entries_need_a_name(helper: ModuleType, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    _, sha_b = _pin(tmp_path / "opt", [("a", b"a", ""), ("b", b"b", "")])
    with pytest.raises(SystemExit) as exc:
        helper.pinned_weights("")
    assert exc.value.code == 2
    assert capsys.readouterr().err == ("weights: error: weights.lock pins several weights (a, b): "
                                       "set 'weights' to one of them\n")
    assert helper.pinned_weights("b").endswith(f"weights-{sha_b}")


def test_a_changed_file_is_never_loaded(helper: ModuleType, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    (sha,) = _pin(tmp_path / "opt", [("tiny", b"abc", "")])
    (tmp_path / "opt" / f"weights-{sha}").write_bytes(b"abd")
    with pytest.raises(SystemExit) as exc:
        helper.pinned_weights("tiny")
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("weights: error: tiny: ") and err.count("\n") == 1


def test_no_lock_and_no_setting_means_random_weights(helper: ModuleType,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert helper.pinned_weights("") == ""
    assert capsys.readouterr().out == ""


def test_a_plain_path_is_loaded_and_logged_as_not_pinned(helper: ModuleType, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "mine.pth"
    path.write_bytes(b"xyz")
    assert helper.pinned_weights(str(path)) == str(path)
    sha = hashlib.sha256(b"xyz").hexdigest()
    assert capsys.readouterr().out == f"weights: {path} sha256={sha} (not pinned in weights.lock)\n"


def test_train_py_loads_the_pinned_state_dict(helper: ModuleType, tmp_path: Path,
                                              load_train: Callable[[str], ModuleType],
                                              monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """The classification train.py's build_model(..., pinned_weights(setting)): the tensors
    of a generated state_dict end up in the model (the head, of another shape, stays random)."""
    import torchvision

    torch.manual_seed(1)
    source = torchvision.models.resnet18(weights=None, num_classes=7)
    buf = tmp_path / "resnet18.pth"
    torch.save(source.state_dict(), buf)
    (sha,) = _pin(tmp_path / "opt", [("resnet18", buf.read_bytes(), "")])
    train = load_train("classification")
    model = train.build_model("resnet18", 3, train.pinned_weights(""))
    assert torch.equal(model.state_dict()["conv1.weight"], source.state_dict()["conv1.weight"])
    assert model.state_dict()["fc.weight"].shape == (3, 512)
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"weights: resnet18 sha256={sha} (local file)"
