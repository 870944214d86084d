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
    from tcli.datasets.demo import write_demo_dataset

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
        # split.json: the val split the report reads (written by the container, issue 28)
        assert sorted(p.name for p in train.iterdir()) == ["metrics.json", "metrics.jsonl",
                                                           "model.onnx", "split.json"]
        final = json.loads((train / "metrics.jsonl").read_text().splitlines()[-1])
        assert final["world_size"] == 2 and round(final["score"], 3) == summary["score"]
    finally:
        cleanup(docker_client, project)



def _small_classification(tmp_path: Path, epochs: int) -> Path:
    from tests.integration.test_devrun import render

    project = render(tmp_path / f"cls-{uuid.uuid4().hex[:6]}", "classification",
                     tmp_path / "home")
    (cfg_path,) = project.glob("templates/*/*/*/config/train_config.json")
    cfg = json.loads(cfg_path.read_text())
    cfg.update({"epochs": epochs, "img-size": 32, "batch-size": 8})
    cfg_path.write_text(json.dumps(cfg, indent=2) + "\n")
    return project


def _left(client: Any, project: Path) -> list[str]:
    return [c.name for c in client.containers.list(
        all=True, filters={"label": f"org.tc.project={project}"})]


def test_dev_run_nodes_2(tmp_path: Path, docker_client: Any, base_image: str) -> None:
    """`tc dev-run --demo --nodes 2`: two containers with Kubeflow's PET_* variables, logs
    prefixed by rank, one score and one model (node 0's), no container left."""
    from tests.integration.test_devrun import cleanup, summary_of, tc

    project = _small_classification(tmp_path, epochs=2)
    try:
        done = tc(["dev-run", str(project), "--demo", "--demo-images", "30", "--nodes", "2",
                   "--json"], base_image, timeout=1200)
        assert done.returncode == 0, done.stdout + done.stderr
        summary = summary_of(done)
        assert summary["status"] == "succeeded" and summary["score"] is not None, summary
        assert summary["nodes"] == 2 and summary["container"].endswith("-node0")
        err = done.stderr
        assert "running 2 nodes × 1 process(es) on the host network (master 127.0.0.1:" in err
        assert "[node0] [entrypoint] torchrun: 1 process(es) per node, 2 node(s), node rank 0" in err
        assert "[node1] [entrypoint] torchrun: 1 process(es) per node, 2 node(s), node rank 1" in err
        node0_scores = [ln for ln in err.splitlines()
                        if ln.startswith("[node0] Test metric  Accuracy  ")]
        assert len(node0_scores) == 1, err
        assert not [ln for ln in err.splitlines() if ln.startswith("[node1] Test metric")]
        train = project / ".tc" / "train"
        assert (train / "model.onnx").stat().st_size > 0
        assert list((project / ".tc" / "train-node1").iterdir()) == []  # rank 1 writes nothing
        final = json.loads((train / "metrics.jsonl").read_text().splitlines()[-1])
        assert final["world_size"] == 2 and round(final["score"], 3) == summary["score"]
        assert "removed the 2 node containers" in err
        assert _left(docker_client, project) == []
    finally:
        cleanup(docker_client, project)


@contextlib.contextmanager
def _training_nodes(client: Any, project: Path,
                    base_image: str) -> Iterator[tuple[subprocess.Popen[str], dict[str, Any]]]:
    """`tc dev-run --nodes 2` in the background, once rank 0 has finished its first epoch:
    (the tc process, node containers by rank). Afterwards the process is killed if it still
    runs, and the project's containers and images are removed."""
    from tests.integration.test_devrun import cleanup, tc_env

    proc = subprocess.Popen(
        [sys.executable, "-m", "tcli", "dev-run", str(project), "--demo", "--demo-images", "30",
         "--nodes", "2"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=tc_env(base_image))
    try:
        deadline = time.monotonic() + 1200
        by_rank: dict[str, Any] = {}
        while "0" not in by_rank or "epoch 1/40" not in by_rank["0"].logs().decode(
                "utf-8", "replace"):  # rank 0 alone prints the epochs
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise AssertionError(f"training did not start: {proc.communicate()[0]}")
            by_rank = {c.labels.get("org.tc.node-rank"): c for c in client.containers.list(
                filters={"label": f"org.tc.project={project}"})}
            time.sleep(1)
        yield proc, by_rank
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        cleanup(client, project)


def test_dev_run_nodes_2_killing_node_1(tmp_path: Path, docker_client: Any,
                                        base_image: str) -> None:
    """Killing node 1 mid-run: tc exits 5 within a bounded time, names node 1, and leaves no
    container behind."""
    project = _small_classification(tmp_path, epochs=40)
    with _training_nodes(docker_client, project, base_image) as (proc, by_rank):
        by_rank["1"].kill()
        killed = time.monotonic()
        out, _ = proc.communicate(timeout=KILL_BOUND_S + 60)
        (tmp_path / "transcript.txt").write_text(out)
        assert time.monotonic() - killed < KILL_BOUND_S
        assert proc.returncode == 5, out
        assert re.search(r"^node 1 \(\S+-node1\) exited with code 137 \(killed\): the other "
                         r"nodes get 15 s to end, then tc stops them$", out, re.M), out
        assert re.search(r"^error: node 1 of 2 \(\S+-node1\) exited with code 137 \(killed\)",
                         out, re.M), out
        own = [ln for ln in out.splitlines() if not ln.startswith(("[node", "  [node"))]
        assert not [ln for ln in own if "Traceback" in ln], out  # tc's own lines; not train.py's
        assert not (project / ".tc" / "train" / "model.onnx").exists()
        assert _left(docker_client, project) == []


def test_dev_run_nodes_2_ctrl_c_removes_every_node(tmp_path: Path, docker_client: Any,
                                                   base_image: str) -> None:
    """Ctrl-C (SIGINT) during a --nodes run: exit 130, both containers stopped and removed."""
    import signal

    project = _small_classification(tmp_path, epochs=40)
    with _training_nodes(docker_client, project, base_image) as (proc, _):
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 130, out
        assert out.count("stopped and removed container ") == 2, out
        assert re.search(r"^error: interrupted$", out, re.M), out
        assert _left(docker_client, project) == []
