"""tc dev-run on a real Docker daemon: build, run, score, model, layer cache, reruns, faults.

Every test drives the real ``tc`` CLI in a subprocess (as a user would) against the real
engine, with host networking (TC_NETWORK=host) and the local stand-in base image.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tcli.contract import RUNTIME_FILES
from tests.waits import LineReader

pytestmark = pytest.mark.integration

SKLEARN = "ScikitLearn/Classification/LogisticRegression"


def tc_env(base_image: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        TC_NETWORK="host", TC_BASE_IMAGE=base_image, NO_COLOR="1", COLUMNS="200", TERM="dumb"
    )
    return env


def tc(args: list[str], base_image: str, timeout: int = 600, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tcli", *args],
        capture_output=True, text=True, timeout=timeout, env=tc_env(base_image), check=False, **kw,
    )


def render(dest: Path, template: str, home: Path) -> Path:
    from tcli import scaffold

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TC_HOME", str(home))
        scaffold.render(dest, {"project_name": dest.name, "template": template}, defaults=True)
    return dest


def template_dir(project: Path) -> Path:
    (found,) = [p for p in (project / "templates").glob("*/*/*") if p.is_dir()]
    return found


def cleanup(client: Any, project: Path) -> None:
    for c in client.containers.list(all=True, filters={"label": f"org.tc.project={project}"}):
        c.remove(force=True)
    for image in client.images.list(name=f"tc-dev/{project.name}*"):
        for tag in image.tags:
            client.images.remove(tag, force=True)


def summary_of(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert done.stdout.strip().startswith("{"), done.stdout + done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    return data


@pytest.fixture(scope="module")
def sk_project(
    tmp_path_factory: pytest.TempPathFactory, docker_client: Any, base_image: str
) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("sk")
    project = render(root / f"sk-{uuid.uuid4().hex[:6]}", "sklearn", root / "home")
    yield project
    cleanup(docker_client, project)


def test_sklearn_build_run_score_model(sk_project: Path, base_image: str) -> None:
    done = tc(["dev-run", str(sk_project), "--demo", "--demo-images", "30"], base_image)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    # the runtime files, export.py, presets.json, train_config.json, export_config.json and
    # the 7 files of docker/
    assert f"build context: {len(RUNTIME_FILES) + 11} files" in out
    assert "score Acc. = " in out
    assert "status     succeeded (exit 0)" in out
    assert "model      .tc/train/model.onnx (" in out
    assert (sk_project / ".tc" / "train" / "model.onnx").stat().st_size > 0
    # no GPU on this machine: one warning line, CPU run
    assert done.stderr.count("running on CPU") <= 1


def test_json_summary_and_dependency_layer_reused(sk_project: Path, base_image: str) -> None:
    train_py = template_dir(sk_project) / "docker" / "train.py"
    train_py.write_text(train_py.read_text() + "\n# edited by the test\n")
    done = tc(["dev-run", str(sk_project), "--demo", "--demo-images", "30", "--json"], base_image)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = summary_of(done)
    assert summary["status"] == "succeeded"
    assert summary["score"] is not None and 0.0 <= summary["score"] <= 1.0
    assert summary["score"] == round(float(summary["score_raw"]), 3)
    assert summary["model_file"].endswith(".tc/train/model.onnx") and summary["model_bytes"] > 0
    assert summary["context_bytes"] < 1_000_000
    steps = {s["instruction"]: s["cached"] for s in summary["build_steps"]}
    pip_step = next(k for k in steps if "pip install" in k)
    copy_sources = next(k for k in steps if k.startswith("COPY *.py"))
    assert steps[pip_step] is True, summary["build_steps"]       # dependency layer reused
    assert steps[copy_sources] is False, summary["build_steps"]  # sources rebuilt
    assert summary["durations"]["build"] is not None


def test_rerun_with_docker_start(sk_project: Path, base_image: str, docker_client: Any) -> None:
    (before,) = docker_client.containers.list(
        all=True, filters={"label": f"org.tc.project={sk_project}"}
    )
    done = tc(["dev-run", str(sk_project), "--rerun", "--json"], base_image)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = summary_of(done)
    assert summary["rerun"] is True and summary["status"] == "succeeded"
    assert summary["dataset_id"] == 1 and summary["score"] is not None
    after = docker_client.containers.get(summary["container"])
    # the same container was started again (docker start), not a new one
    assert after.id == before.id
    assert after.attrs["State"]["StartedAt"] > before.attrs["State"]["StartedAt"]
    assert after.attrs["State"]["ExitCode"] == 0


def test_rerun_switches_dataset_through_env_file(
    sk_project: Path, base_image: str, docker_client: Any
) -> None:
    done = tc(
        ["dev-run", str(sk_project), "--rerun", "--dataset-id", "2", "--demo", "--demo-images", "21"],
        base_image,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "wrote DATASET_ID=2 into" in done.stdout
    assert "/minio/datasets/2" in done.stdout
    assert "21 samples" in done.stdout
    from tcli import engine as docker_ops

    (container,) = docker_client.containers.list(
        all=True, filters={"label": f"org.tc.project={sk_project}"}
    )
    env_file = docker_ops.read_file(container, "/workspace/.env")
    assert env_file is not None and env_file.decode().strip().endswith("DATASET_ID=2")
    # the container's environment still says 1: the .env file won
    assert "DATASET_ID=1" in container.attrs["Config"]["Env"]


def test_name_collision_with_a_foreign_container(
    sk_project: Path, base_image: str, docker_client: Any
) -> None:
    from tcli.devrun import container_name
    from tcli.project import Project

    project = Project.load(sk_project)
    name = container_name(project, project.select(None))
    for c in docker_client.containers.list(all=True, filters={"name": name}):
        c.remove(force=True)
    foreign = docker_client.containers.create(base_image, ["true"], name=name)
    try:
        done = tc(["dev-run", str(sk_project), "--json"], base_image)
        assert done.returncode == 0, done.stdout + done.stderr
        assert summary_of(done)["container"] == f"{name}-2"
        assert f"container name {name} is taken by another container: using {name}-2" in done.stderr
    finally:
        foreign.remove(force=True)


def test_missing_base_image_names_the_flag(sk_project: Path, base_image: str) -> None:
    done = tc(["dev-run", str(sk_project), "--base-image", "tc-local/does-not-exist:0"], base_image)
    assert done.returncode == 3, done.stdout + done.stderr
    assert (
        "error: base image tc-local/does-not-exist:0 is not available locally and cannot be pulled"
        in done.stderr
    )
    assert "--base-image" in done.stderr and "make base-image" in done.stderr


@pytest.fixture()
def scratch_project(
    tmp_path: Path, docker_client: Any, base_image: str
) -> Iterator[Path]:
    project = render(tmp_path / f"scratch-{uuid.uuid4().hex[:6]}", "sklearn", tmp_path / "home")
    yield project
    cleanup(docker_client, project)


def test_build_failure_shows_the_step(scratch_project: Path, base_image: str) -> None:
    dockerfile = template_dir(scratch_project) / "docker" / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "RUN echo tc-test-build-failure && exit 3\n")
    done = tc(["dev-run", str(scratch_project), "--demo", "--demo-images", "12"], base_image)
    assert done.returncode == 4, done.stdout + done.stderr
    expected = "error: docker build failed at step 11/11 (RUN echo tc-test-build-failure && exit 3)"
    assert expected in done.stderr
    assert "returned a non-zero code: 3" in done.stderr
    assert "  tc-test-build-failure" in done.stdout  # the failing step's output


def test_ctrl_c_stops_and_removes_the_container(
    scratch_project: Path, base_image: str, docker_client: Any
) -> None:
    train_py = template_dir(scratch_project) / "docker" / "train.py"
    train_py.write_text("import time\nprint('tc-test: sleeping', flush=True)\ntime.sleep(300)\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tcli", "dev-run", str(scratch_project), "--demo", "--demo-images", "12"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=tc_env(base_image),
    )
    out = LineReader(proc)
    out.wait_for(lambda line: "tc-test: sleeping" in line and "print(" not in line, timeout=900)
    proc.send_signal(signal.SIGINT)
    out.finish()
    output = out.text()
    assert proc.returncode == 130, output
    assert "stopped and removed container tc-scratch-" in output
    assert "error: interrupted" in output
    left = docker_client.containers.list(
        all=True, filters={"label": f"org.tc.project={scratch_project}"}
    )
    assert left == []


def test_oom_killed_is_reported(scratch_project: Path, base_image: str) -> None:
    train_py = template_dir(scratch_project) / "docker" / "train.py"
    train_py.write_text("print('tc-test: allocating', flush=True)\nblob = b'x' * (1024 ** 3)\n")
    done = tc(
        ["dev-run", str(scratch_project), "--demo", "--demo-images", "12", "--memory", "96m"],
        base_image,
    )
    assert done.returncode == 5, done.stdout + done.stderr
    assert "was OOM-killed (out of memory, exit 137)" in done.stderr
    assert "status     oom-killed (exit 137)" in done.stdout


def test_classification_torch_template(
    tmp_path: Path, docker_client: Any, base_image: str
) -> None:
    project = render(tmp_path / f"cls-{uuid.uuid4().hex[:6]}", "classification", tmp_path / "home")
    try:
        config = template_dir(project) / "config" / "train_config.json"
        data = json.loads(config.read_text())
        data.update({"epochs": 1, "img-size": 32, "batch-size": 8, "num-workers": 0})
        config.write_text(json.dumps(data, indent=2) + "\n")
        done = tc(["dev-run", str(project), "--demo", "--demo-images", "24", "--json"], base_image)
        assert done.returncode == 0, done.stdout + done.stderr
        summary = summary_of(done)
        assert summary["status"] == "succeeded"
        assert summary["score"] is not None
        assert summary["model_bytes"] > 0
        assert Path(summary["model_file"]).is_file()
    finally:
        cleanup(docker_client, project)


def test_dry_run_shows_what_the_run_creates(sk_project: Path, base_image: str,
                                            docker_client: Any) -> None:
    """--dry-run's docker create parameters are those of the container the run makes."""
    args = ["dev-run", str(sk_project), "--demo", "--demo-images", "30", "--gpus", "none",
            "--memory", "2g"]
    planned = tc([*args, "--dry-run", "--json"], base_image)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    (create,) = [c["create"] for c in json.loads(planned.stdout)["containers"]]
    done = tc(args, base_image)
    assert done.returncode == 0, done.stdout + done.stderr
    made = {c.name: c for c in docker_client.containers.list(
        all=True, filters={"label": [f"org.tc.project={sk_project}", "org.tc.dev-run=1"]})}
    container = made[create["name"]]  # the module's project also holds earlier tests' runs
    attrs, host = container.attrs, container.attrs["HostConfig"]
    assert container.name == create["name"]
    assert attrs["Config"]["Image"] == create["image"]
    env = dict(item.split("=", 1) for item in attrs["Config"]["Env"])
    assert {k: env[k] for k in create["environment"]} == create["environment"]
    assert sorted(host["Binds"]) == sorted(
        f"{src}:{b['bind']}:{b['mode']}" for src, b in create["volumes"].items())
    assert host["ShmSize"] == 8 * 2**30 and create["shm_size"] == "8g"
    assert host["IpcMode"] == create["ipc_mode"]
    assert host["Memory"] == 2 * 2**30 and create["mem_limit"] == "2g"
    assert {u["Name"]: u["Soft"] for u in host["Ulimits"] or []}.items() <= {
        name: soft for name, soft, _ in create["ulimits"]}.items()
    assert {k: attrs["Config"]["Labels"][k] for k in create["labels"]} == create["labels"]
