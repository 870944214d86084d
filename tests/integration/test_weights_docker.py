"""Pinned weights in real Docker (issue 22 item 3): ``tc dev-run`` stages the file from the host
cache (the build has no network to the outside here), the image's step verifies it and
train.py logs which weights it loaded; a build that must download (nothing cached) and gets
other bytes fails with one ``tc-weights: error:`` line; a changed cache file stops dev-run
before any build."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.httpserve import routed_server
from tests.integration.test_devrun import cleanup, render, tc, template_dir

pytestmark = pytest.mark.integration


def _project(tmp_path: Path) -> Path:
    project = render(tmp_path / f"cls-{uuid.uuid4().hex[:6]}", "classification", tmp_path / "home")
    cfg_path = template_dir(project) / "config" / "train_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg.update({"epochs": 1, "img-size": 32, "batch-size": 8})
    cfg_path.write_text(json.dumps(cfg, indent=2) + "\n")
    return project


def _weights(path: Path) -> bytes:
    """A generated state_dict with resnet18's first convolution (nothing downloaded)."""
    torch.manual_seed(3)
    torch.save({"conv1.weight": torch.randn(64, 3, 7, 7)}, path)
    return path.read_bytes()


def _run(project: Path, base_image: str, cache: Path) -> Any:
    os.environ["TC_CACHE_DIR"] = str(cache)
    try:
        return tc(["dev-run", str(project), "--demo", "--demo-images", "24"], base_image)
    finally:
        del os.environ["TC_CACHE_DIR"]


@pytest.mark.slow  # trains (one epoch)
def test_pinned_weights_from_the_host_cache_then_a_wrong_download_fails_the_build(
        tmp_path: Path, docker_client: Any, base_image: str) -> None:
    project = _project(tmp_path)
    cache = tmp_path / "cache"
    body = _weights(tmp_path / "tiny.pth")
    sha = hashlib.sha256(body).hexdigest()
    try:
        with routed_server({"/tiny.pth": (200, {}, b"not the pinned bytes")}) as (base, hits):
            os.environ["TC_CACHE_DIR"] = str(cache)
            try:
                added = tc(["weights", "add", str(tmp_path / "tiny.pth"), "--name", "tiny",
                            "--url", f"{base}/tiny.pth", "--project", str(project)], base_image)
            finally:
                del os.environ["TC_CACHE_DIR"]
            assert added.returncode == 0, added.stdout + added.stderr

            done = _run(project, base_image, cache)
            out = done.stdout + done.stderr
            assert done.returncode == 0, out
            assert f"weights tiny: from the host cache (sha256 {sha[:12]}…" in out
            assert f"weights: tiny sha256={sha} (from {base}/tiny.pth)" in out
            assert "weights: loaded 1 of " in out
            assert hits == []  # the file came from the host cache, not the URL

            (cache / "weights" / "sha256" / sha).unlink()  # the platform's case: download
            done = _run(project, base_image, cache)
            out = done.stdout + done.stderr
            assert done.returncode == 4, out
            errors = [ln for ln in out.splitlines() if "tc-weights: error:" in ln]
            assert len(errors) == 1, out
            assert errors[0].strip().startswith(f"tc-weights: error: tiny: the download from "
                                                f"{base}/tiny.pth has sha256 "), errors
            assert hits == ["/tiny.pth"]
    finally:
        cleanup(docker_client, project)


def test_a_changed_cache_file_stops_dev_run_before_the_build(
        tmp_path: Path, docker_client: Any, base_image: str) -> None:
    project = _project(tmp_path)
    cache = tmp_path / "cache"
    body = _weights(tmp_path / "tiny.pth")
    sha = hashlib.sha256(body).hexdigest()
    try:
        os.environ["TC_CACHE_DIR"] = str(cache)
        try:
            added = tc(["weights", "add", str(tmp_path / "tiny.pth"), "--project", str(project)],
                       base_image)
        finally:
            del os.environ["TC_CACHE_DIR"]
        assert added.returncode == 0, added.stdout + added.stderr
        cached = cache / "weights" / "sha256" / sha
        os.chmod(cached, 0o644)
        cached.write_bytes(body[:-1] + bytes([body[-1] ^ 1]))
        done = _run(project, base_image, cache)
        assert done.returncode == 2, done.stdout + done.stderr
        errors = [ln for ln in done.stderr.splitlines() if ln.startswith("error:")]
        assert len(errors) == 1 and errors[0].startswith(f"error: weights tiny: {cached}: "
                                                         "sha256 is "), done.stderr
        assert "building" not in done.stdout
    finally:
        cleanup(docker_client, project)


def test_the_weights_layers_stay_cached_when_train_py_changes(
        tmp_path: Path, docker_client: Any, base_image: str) -> None:
    """tc build twice, train.py edited in between: the weights' COPY and RUN layers are the
    same layers (the cache's key is the files' content), only the sources layer is new."""
    project = _project(tmp_path)
    cache = tmp_path / "cache"
    _weights(tmp_path / "tiny.pth")
    tags = [f"tc-weights-test/{project.name}:{i}" for i in (1, 2)]
    os.environ["TC_CACHE_DIR"] = str(cache)
    try:
        added = tc(["weights", "add", str(tmp_path / "tiny.pth"), "--project", str(project)],
                   base_image)
        assert added.returncode == 0, added.stdout + added.stderr
        layers = []
        for tag in tags:
            built = tc(["build", str(project), "--tag", tag], base_image)
            assert built.returncode == 0, built.stdout + built.stderr
            history = docker_client.images.get(tag).history()
            layers.append([(h["CreatedBy"], h["Id"]) for h in history])  # newest first
            train = template_dir(project) / "docker" / "train.py"
            train.write_text(train.read_text() + "# edited\n")

        def layer(image: list[tuple[str, str]], needle: str) -> str:
            return next(i for c, i in image if needle in c)

        weights = [layer(image, "tc_weights.py install") for image in layers]
        assert weights[0] == weights[1] and weights[0] != "<missing>"
        sources = [layer(image, " in /workspace/ ") for image in layers]  # the newest COPY
        assert sources[0] != sources[1]
    finally:
        del os.environ["TC_CACHE_DIR"]
        for tag in tags:
            if any(tag in (i.tags or []) for i in docker_client.images.list(name=tag.split(":")[0])):
                docker_client.images.remove(tag, force=True)
        cleanup(docker_client, project)
