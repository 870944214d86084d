"""tc dev-run through Typer's CliRunner: help, input errors and a dead daemon (exact messages)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tcli.cli import app

runner = CliRunner()


def project(root: Path) -> Path:
    tpl = root / "templates" / "P" / "Classification" / "A"
    (tpl / "config").mkdir(parents=True)
    (tpl / "docker").mkdir(parents=True)
    (tpl / "config" / "custom.json").write_text(json.dumps({
        "model_filepath": "/train/model.onnx", "score_name": "Acc.",
        "score_regexp": "Accuracy (\\d+\\.\\d+)",
    }))
    (tpl / "docker" / "Dockerfile").write_text("ARG BASE_IMAGE=x\nFROM ${BASE_IMAGE}\n")
    return root


def test_help_has_example_and_flags() -> None:
    result = runner.invoke(app, ["dev-run", "--help"])
    assert result.exit_code == 0
    out = " ".join(result.output.split())
    assert "Example: tc dev-run --demo" in out
    for flag in ("--template", "--dataset", "--demo", "--dataset-id", "--gpus", "--base-image",
                 "--no-cache", "--keep", "--rerun", "--json", "--network"):
        assert flag in out, flag


def test_not_a_project(tmp_path: Path) -> None:
    result = runner.invoke(app, ["dev-run", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output == (
        f"error: {tmp_path}: not a train-container project (no templates/ folder)\n"
        "hint: run tc inside a folder made by 'tc new', or pass its path\n"
    )


def test_demo_and_dataset_exclude_each_other(tmp_path: Path) -> None:
    result = runner.invoke(app, ["dev-run", str(project(tmp_path)), "--demo", "--dataset", "d"])
    assert result.exit_code == 2
    assert result.output == (
        "error: --demo and --dataset exclude each other\nhint: pass one of them\n"
    )


def test_rerun_rejects_build_flags(tmp_path: Path) -> None:
    result = runner.invoke(app, ["dev-run", str(project(tmp_path)), "--rerun", "--no-cache"])
    assert result.exit_code == 2
    assert result.output.startswith("error: --no-cache cannot be used with --rerun\n")


def test_daemon_down(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sock = tmp_path / "dead.sock"
    monkeypatch.setenv("DOCKER_HOST", f"unix://{sock}")
    result = runner.invoke(app, ["dev-run", str(project(tmp_path / "p")), "--demo"])
    assert result.exit_code == 3
    assert result.output == (
        f"error: Docker daemon not reachable at unix://{sock}\n"
        "hint: start the Docker daemon ('sudo systemctl start docker', or 'sudo dockerd &' "
        "without systemd), check DOCKER_HOST, and that your user is in the 'docker' group; "
        "'tc doctor' checks the whole setup\n"
    )


def test_bad_custom_json_is_reported_before_docker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/dead.sock")
    root = project(tmp_path / "p")
    custom = root / "templates" / "P" / "Classification" / "A" / "config" / "custom.json"
    custom.write_text("{")
    result = runner.invoke(app, ["dev-run", str(root)])
    assert result.exit_code == 2
    assert result.output.startswith(f"error: {custom}: invalid JSON (")


# ---- --dry-run: the docker create parameters, no daemon, nothing written -------------------

def test_dry_run_prints_the_docker_create_parameters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/dead.sock")  # never contacted
    monkeypatch.delenv("TC_NETWORK", raising=False)  # the platform's default network (CI sets host)
    monkeypatch.delenv("TC_BASE_IMAGE", raising=False)  # the Dockerfile's default (make test sets it)
    root = project(tmp_path / "p")
    result = runner.invoke(app, ["dev-run", str(root), "--demo", "--dry-run", "--gpus", "0",
                                 "--memory", "4g", "--nproc-per-node", "1"])
    assert result.exit_code == 0, result.output
    name = "tc-p-p-classification-a"
    assert result.output == (
        f"tc dev-run --dry-run: P/Classification/A ({root})\n"
        "build      tc-dev/p-p-classification-a:latest from the platform's build directory\n"
        "dataset 1: 120 samples (synthetic demo data) in .tc/minio/datasets/1\n"
        f"container: {name}\n"
        "  docker create \\\n"
        f"    --name {name} \\\n"
        "    --gpus '\"device=0\"' \\\n"
        "    --ipc host \\\n"
        "    --shm-size 8g \\\n"
        "    --ulimit memlock=-1:-1 \\\n"
        "    --ulimit stack=67108864:67108864 \\\n"
        "    --memory 4g --memory-swap 4g \\\n"
        "    -e DATASET_ID=1 \\\n"
        "    -e NVIDIA_VISIBLE_DEVICES=0 \\\n"
        "    -e TC_NPROC_PER_NODE=1 \\\n"
        f"    -v {root}/.tc/minio:/minio:rw \\\n"
        f"    -v {root}/.tc/train:/train:rw \\\n"
        f"    --label org.tc.project={root} \\\n"
        "    --label org.tc.template=P/Classification/A \\\n"
        "    --label org.tc.dev-run=1 \\\n"
        "    tc-dev/p-p-classification-a:latest\n"
        "note: the run fails (exit 3) when the Docker daemon has no NVIDIA runtime; --dry-run "
        "does not ask it\n"
        "note: container names as tc chooses them: the run replaces this project's finished "
        "container of that name, and adds -2, -3 ... when another container holds it\n"
        "note: base image: the Dockerfile's x when it is present or its registry answers, else "
        "the local stand-in tc-local/pytorch:2.14.1 (built when absent)\n"
        "nothing was built, written or started (--dry-run does not contact Docker)\n"
    )
    assert sorted(p.name for p in root.iterdir()) == ["templates"]  # no .tc: nothing written


def test_dry_run_json_for_nodes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/dead.sock")
    root = project(tmp_path / "p")
    (root / "templates" / "P" / "Classification" / "A" / "docker" / "tc_torch.py").write_text("")
    result = runner.invoke(app, ["dev-run", str(root), "--demo", "--dry-run", "--json",
                                 "--nodes", "2", "--gpus", "none", "--nproc-per-node", "2",
                                 "--base-image", "tc-local/pytorch:2.14.1"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["dry_run"] is True and doc["build_args"] == {"BASE_IMAGE": "tc-local/pytorch:2.14.1"}
    assert doc["job"]["nodes"] == 2 and doc["job"]["shm_size"] == "8Gi"
    assert doc["job"]["gpus"] == [{"count": 0, "device_ids": []}] * 2
    creates = [c["create"] for c in doc["containers"]]
    assert [c["name"] for c in creates] == ["tc-p-p-classification-a-node0",
                                            "tc-p-p-classification-a-node1"]
    assert [c["environment"]["PET_NODE_RANK"] for c in creates] == ["0", "1"]
    assert {c["environment"]["PET_NPROC_PER_NODE"] for c in creates} == {"2"}
    assert {c["network_mode"] for c in creates} == {"host"}
    assert [sorted(c["volumes"]) for c in creates] == [
        [f"{root}/.tc/minio", f"{root}/.tc/train"],
        [f"{root}/.tc/minio", f"{root}/.tc/train-node1"]]
    assert all(c["gpus"] is None and c["shm_size"] == "8g" for c in creates)
    assert doc["containers"][0]["command_line"][:2] == ["docker", "create"]
    assert not (root / ".tc").exists()


def test_dry_run_refuses_what_the_run_refuses(tmp_path: Path) -> None:
    root = project(tmp_path / "p")
    result = runner.invoke(app, ["dev-run", str(root), "--dry-run"])
    assert result.exit_code == 2
    assert result.output.startswith(f"error: no dataset 1 in {root}/.tc/minio/datasets\n")
    result = runner.invoke(app, ["dev-run", str(root), "--dry-run", "--rerun"])
    assert result.exit_code == 2
    assert result.output.startswith("error: --dry-run cannot be used with --rerun\n")
