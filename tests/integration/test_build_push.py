"""tc build --tag REG/NAME:TAG --push against a REAL registry on 127.0.0.1 (Debian's
``docker-registry`` package, distribution 2.x), started per test session with its own
config and storage in a temporary folder. Skips with the reason only when the binary is
absent (under CI=true that skip is a failure: CI installs the package)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.validate_helpers import tdir
from tests.waits import SAFETY_NET

pytestmark = pytest.mark.integration
REGISTRY_BIN = shutil.which("docker-registry") or shutil.which("registry")
MANIFEST_TYPES = ", ".join((
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.index.v1+json",
))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``127.0.0.1:PORT`` of a running registry (stopped at the end of the session)."""
    if REGISTRY_BIN is None:
        pytest.skip("no docker-registry binary: apt-get install docker-registry")
    root = tmp_path_factory.mktemp("registry")
    port = _free_port()
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root / 'storage'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    log = (root / "registry.log").open("w")
    proc = subprocess.Popen([REGISTRY_BIN, "serve", str(config)], stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + SAFETY_NET  # a net: the loop ends when /v2/ answers
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("registry did not start: " + (root / "registry.log").read_text())
            time.sleep(0.2)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=SAFETY_NET)
        log.close()


def _get(url: str, accept: str | None = None) -> tuple[dict[str, str], bytes]:
    req = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(req, timeout=10) as r:
        return dict(r.headers), r.read()


def _tc(*args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, NO_COLOR="1", COLUMNS="200", TERM="dumb", TC_NETWORK="host")
    return subprocess.run([sys.executable, "-m", "tcli", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, check=False)


@pytest.fixture()
def project(new_project: Callable[..., Path]) -> Path:
    """The classification project with a Dockerfile that needs no base image (FROM scratch):
    the build context is still the platform's build directory tc assembles."""
    proj = new_project("classification", name="proj")
    (tdir(proj) / "docker" / "Dockerfile").write_text(
        "FROM scratch\nCOPY train.py args.py tc_torch.py docker-entrypoint.sh /workspace/\n")
    return proj


def test_build_and_push_to_a_real_registry(docker_client: Any, registry: str,
                                           project: Path) -> None:
    name = f"scaleout-test/cls-{uuid.uuid4().hex[:8]}"
    tag = f"{registry}/{name}:1"
    try:
        r = _tc("build", str(project), "--tag", tag, "--push")
        assert r.returncode == 0, r.stdout + r.stderr
        lines = r.stdout.splitlines()
        assert lines[0] == f"building {tag} from Prov/Cat/Arch"
        assert any(ln.startswith(f"built {tag} in ") for ln in lines), r.stdout
        assert lines[-2] == f"pushing {tag}"
        assert lines[-1].startswith(f"pushed {tag}@sha256:"), r.stdout
        digest = lines[-1].rsplit("@", 1)[1]
        _, body = _get(f"http://{registry}/v2/{name}/tags/list")
        assert json.loads(body) == {"name": name, "tags": ["1"]}
        headers, _ = _get(f"http://{registry}/v2/{name}/manifests/1", MANIFEST_TYPES)
        assert headers["Docker-Content-Digest"] == digest
        image = docker_client.images.get(tag)
        assert image.labels.get("tc.template") == "Prov/Cat/Arch"
    finally:
        with contextlib.suppress(Exception):
            docker_client.images.remove(tag, force=True)


def test_push_to_a_closed_port_fails_clearly(docker_client: Any, project: Path) -> None:
    tag = f"127.0.0.1:{_free_port()}/scaleout-test/closed-{uuid.uuid4().hex[:8]}:1"
    try:
        r = _tc("build", str(project), "--tag", tag, "--push")
        assert r.returncode == 3, r.stdout + r.stderr
        assert f"error: push of {tag} failed: " in r.stderr
        assert "Traceback" not in r.stderr and "internal error" not in r.stderr
    finally:
        with contextlib.suppress(Exception):
            docker_client.images.remove(tag, force=True)
