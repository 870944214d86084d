"""The classification template's real image trains data-parallel inside Docker, the way
Kubeflow starts it: TC_NPROC_PER_NODE=2 in one container, and two containers on the host
network with the PET_* variables of a 2-node job (master = node 0 on 127.0.0.1, a free port).
One score line and one model (from node 0); a node killed mid-run makes the other fail within
a bounded time instead of hanging. The image is built by `tc build` (the platform's build
directory, base image as tc dev-run chooses it)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration
SCORE = re.compile(r"^Test metric  Accuracy  (\d\.\d+)$", re.M)
KILL_BOUND_S = 180  # node 0 must be gone this long after node 1 was killed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory, docker_client: Any,
          base_image: str) -> Iterator[tuple[str, Path]]:
    """(tag, minio folder): the classification image with a short config, and demo data."""
    from tcli import scaffold
    from tcli.demo_data import write_demo_dataset

    root = tmp_path_factory.mktemp("scaleout-docker")
    project = root / f"scaleout-{uuid.uuid4().hex[:6]}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TC_HOME", str(root / "home"))
        scaffold.render(project, {"project_name": project.name, "template": "classification"},
                        defaults=True)
    (cfg_path,) = project.glob("templates/*/*/*/config/train_config.json")
    cfg = json.loads(cfg_path.read_text())
    cfg.update({"epochs": 3, "img-size": 32, "batch-size": 8})
    cfg_path.write_text(json.dumps(cfg, indent=2) + "\n")
    minio = root / "minio"
    write_demo_dataset(minio, "classification", images=30, dataset_id=1)
    tag = f"scaleout-it/{project.name}:1"
    env = dict(os.environ, NO_COLOR="1", TC_NETWORK="host", TC_BASE_IMAGE=base_image)
    done = subprocess.run([sys.executable, "-m", "tcli", "build", str(project), "--tag", tag],
                          capture_output=True, text=True, timeout=1800, env=env, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    yield tag, minio
    docker_client.images.remove(tag, force=True)


def _start(client: Any, tag: str, minio: Path, train: Path, env: dict[str, str]) -> Any:
    train.mkdir(parents=True, exist_ok=True)
    return client.containers.run(
        tag, detach=True, name=f"scaleout-it-{uuid.uuid4().hex[:8]}", network_mode="host",
        shm_size="1g", environment={"DATASET_ID": "1", "GLOO_SOCKET_IFNAME": "lo", **env},
        volumes={str(minio): {"bind": "/minio", "mode": "rw"},
                 str(train): {"bind": "/train", "mode": "rw"}})


def _finish(containers: list[Any], timeout: int = 900) -> list[tuple[int, str]]:
    out = []
    for c in containers:
        code = c.wait(timeout=timeout)["StatusCode"]
        out.append((int(code), c.logs().decode("utf-8", "replace")))
    return out


def _remove(containers: list[Any]) -> None:
    for c in containers:
        with contextlib.suppress(Exception):  # already gone
            c.remove(force=True)


def test_nproc_per_node_2_in_one_container(docker_client: Any, image: tuple[str, Path],
                                           tmp_path: Path) -> None:
    tag, minio = image
    box = [_start(docker_client, tag, minio, tmp_path / "train", {"TC_NPROC_PER_NODE": "2"})]
    try:
        ((code, log),) = _finish(box)
        assert code == 0, log
        assert "[train] torchrun --nproc-per-node 2 --standalone train.py" in log
        assert len(SCORE.findall(log)) == 1, log
        assert "processes: 2" in log
        assert (tmp_path / "train" / "model.onnx").stat().st_size > 0
        final = json.loads((tmp_path / "train" / "metrics.jsonl").read_text().splitlines()[-1])
        assert final["kind"] == "final" and final["world_size"] == 2
        assert f"{final['score']:.4f}" == SCORE.findall(log)[0]
    finally:
        _remove(box)


def _two_nodes(client: Any, tag: str, minio: Path, tmp_path: Path) -> list[Any]:
    port = str(_free_port())
    return [_start(client, tag, minio, tmp_path / f"node{n}",
                   {"PET_NNODES": "2", "PET_NPROC_PER_NODE": "1", "PET_NODE_RANK": str(n),
                    "PET_MASTER_ADDR": "127.0.0.1", "PET_MASTER_PORT": port,
                    "TC_DIST_TIMEOUT": "120"})
            for n in range(2)]


def test_two_nodes_on_the_host_network(docker_client: Any, image: tuple[str, Path],
                                       tmp_path: Path) -> None:
    tag, minio = image
    nodes = _two_nodes(docker_client, tag, minio, tmp_path)
    try:
        (code0, log0), (code1, log1) = _finish(nodes)
        assert (code0, code1) == (0, 0), log0 + log1
        assert len(SCORE.findall(log0)) == 1 and not SCORE.findall(log1), log0 + log1
        assert (tmp_path / "node0" / "model.onnx").is_file()
        assert list((tmp_path / "node1").iterdir()) == []  # rank 1 writes nothing
        final = json.loads((tmp_path / "node0" / "metrics.jsonl").read_text().splitlines()[-1])
        assert final["world_size"] == 2
    finally:
        _remove(nodes)


def test_killing_node_1_fails_node_0_in_bounded_time(docker_client: Any,
                                                     image: tuple[str, Path],
                                                     tmp_path: Path) -> None:
    tag, minio = image
    nodes = _two_nodes(docker_client, tag, minio, tmp_path)
    try:
        deadline = time.monotonic() + 900
        while "epoch 1/3" not in nodes[0].logs().decode("utf-8", "replace"):
            nodes[0].reload()
            assert nodes[0].status == "running", nodes[0].logs().decode()
            assert time.monotonic() < deadline, "training did not start"
            time.sleep(0.5)
        nodes[1].kill()
        killed = time.monotonic()
        code = int(nodes[0].wait(timeout=KILL_BOUND_S + 60)["StatusCode"])
        assert time.monotonic() - killed < KILL_BOUND_S
        log = nodes[0].logs().decode("utf-8", "replace")
        assert code != 0, log
        assert not SCORE.findall(log) and not (tmp_path / "node0" / "model.onnx").exists()
    finally:
        _remove(nodes)
    names = {c.name for c in docker_client.containers.list(all=True)}
    assert not names & {c.name for c in nodes}


def test_dev_run_nproc_per_node_2(tmp_path: Path, docker_client: Any, base_image: str) -> None:
    """`tc dev-run --demo --nproc-per-node 2`: one score, one model, written by rank 0."""
    from tests.integration.test_devrun import cleanup, render, summary_of, tc

    project = render(tmp_path / f"cls-{uuid.uuid4().hex[:6]}", "classification",
                     tmp_path / "home")
    (cfg_path,) = project.glob("templates/*/*/*/config/train_config.json")
    cfg = json.loads(cfg_path.read_text())
    cfg.update({"epochs": 2, "img-size": 32, "batch-size": 8})
    cfg_path.write_text(json.dumps(cfg, indent=2) + "\n")
    try:
        done = tc(["dev-run", str(project), "--demo", "--demo-images", "30",
                   "--nproc-per-node", "2", "--json"], base_image)
        assert done.returncode == 0, done.stdout + done.stderr
        summary = summary_of(done)
        assert summary["status"] == "succeeded" and summary["score"] is not None, summary
        assert "2 processes (torchrun)" in done.stderr
        assert "[train] torchrun --nproc-per-node 2 --standalone train.py" in done.stderr
        assert len(SCORE.findall(done.stderr)) <= 1
        train = project / ".tc" / "train"
        assert sorted(p.name for p in train.iterdir()) == ["metrics.json", "metrics.jsonl",
                                                           "model.onnx"]
        final = json.loads((train / "metrics.jsonl").read_text().splitlines()[-1])
        assert final["world_size"] == 2 and round(final["score"], 3) == summary["score"]
    finally:
        cleanup(docker_client, project)

