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
