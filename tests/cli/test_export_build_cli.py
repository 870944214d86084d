"""tc export (TrainJob / PyTorchJob YAML) and tc build's refusals through the CLI."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tcli.cli import app
from tcli.scaleout import kubeflow
from tests.conftest import copy_project
from tests.validate_helpers import KEY, tdir

runner = CliRunner()
IMAGE = "127.0.0.1:5000/tc/classification:1"


@pytest.fixture()
def proj(new_project: Callable[..., Path]) -> Path:
    return new_project("classification", name="proj")


def export(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["export", *args])


@pytest.mark.parametrize(("args", "kind"), [
    (["trainjob"], "TrainJob"), ([], "TrainJob"), (["pytorchjob"], "PyTorchJob"),
    (["--format", "pytorchjob"], "PyTorchJob"),
])
def test_export_prints_a_manifest_the_api_models_load(proj: Path, args: list[str],
                                                      kind: str) -> None:
    result = export(*args, str(proj), "--image", IMAGE, "--nodes", "2", "--dataset-id", "42")
    assert result.exit_code == 0, result.output
    doc = yaml.safe_load(result.stdout)
    assert doc["kind"] == kind and doc["metadata"]["name"] == "tc-proj-arch"
    assert doc["metadata"]["labels"]["tc.template"] == "Prov.Cat.Arch"
    kubeflow.VALIDATORS[kind.lower()](doc)
    assert "OID_ACCESS_TOKEN" in result.stdout and "value: '42'" in result.stdout
    assert "&id" not in result.stdout and "*id" not in result.stdout  # no YAML aliases
    assert result.stderr == ""


def test_export_to_a_file(proj: Path, tmp_path: Path) -> None:
    out = tmp_path / "job.yaml"
    result = export("pytorchjob", str(proj), "--image", IMAGE, "--dataset-id", "3", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout == f"wrote pytorchjob for {KEY} -> {out}\n"
    assert yaml.safe_load(out.read_text())["kind"] == "PyTorchJob"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".job")] == []


@pytest.mark.parametrize(("args", "message"), [
    (["--nodes", "0"], "error: --nodes 0: must be between 1 and 1000\n"),
    (["--image", "http://reg/x"], "error: --image 'http://reg/x' is not an image reference"),
    (["--image", "not an image"], "error: --image 'not an image' is not an image reference"),
    (["--dataset-id", "x"], "error: --dataset-id 'x' is not a positive integer\n"),
    (["--format", "helm"], "error: unknown manifest kind 'helm'\n"),
])
def test_export_refuses_bad_options(proj: Path, args: list[str], message: str) -> None:
    base = {"--image": IMAGE, "--dataset-id": "42"}
    for i in range(0, len(args), 2):
        base[args[i]] = args[i + 1]
    flat = [x for kv in base.items() for x in kv]
    result = export(str(proj), *flat) if "--format" not in base else export(
        "trainjob", str(proj), *flat)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.startswith(message)


def test_export_refuses_several_nodes_for_a_one_process_template(
        tmp_path: Path) -> None:
    proj = copy_project("sklearn", tmp_path / "sk")
    result = export(str(proj), "--image", IMAGE, "--dataset-id", "1", "--nodes", "2")
    assert result.exit_code == 2
    assert "trains in one process (no tc_torch.py in its docker/ folder)" in result.stderr
    ok = export(str(proj), "--image", IMAGE, "--dataset-id", "1", "--gpus-per-node", "0")
    assert ok.exit_code == 0, ok.output


def test_export_outside_a_project(tmp_path: Path) -> None:
    result = export(str(tmp_path), "--image", IMAGE, "--dataset-id", "1")
    assert result.exit_code == 2
    assert "not a train-container project" in result.stderr


@pytest.mark.parametrize(("tag", "message"), [
    ("tc/cls:1", "error: --tag 'tc/cls:1' names no registry, so --push has nowhere to go\n"),
    ("127.0.0.1:5000/cls@sha256:" + "a" * 64, "a digest cannot be a build tag"),
    ("127.0.0.1:5000/CLS:1", "is not an image reference"),
])
def test_build_refuses_bad_tags_before_touching_docker(proj: Path, tag: str,
                                                       message: str) -> None:
    (tdir(proj) / "docker" / "Dockerfile").unlink()  # nothing would build anyway
    result = runner.invoke(app, ["build", str(proj), "--tag", tag, "--push"])
    assert result.exit_code == 2, result.output
    assert message in result.stderr


@pytest.mark.parametrize(("template", "args", "message"), [
    ("sklearn", ["--nproc-per-node", "0"], "error: --nproc-per-node 0: must be between 1 and 64"),
    ("sklearn", ["--nproc-per-node", "2"], "trains in one process (no tc_torch.py"),
    ("classification", ["--rerun", "--nproc-per-node", "2"],
     "error: --nproc-per-node cannot be used with --rerun"),
    ("sklearn", ["--nodes", "0"], "error: --nodes 0: must be between 1 and 16\n"),
    ("sklearn", ["--nodes", "2"],
     "error: --nodes 2: Prov/Cat/Arch trains in one process "
     "(no tc_torch.py in its docker/ folder)\n"),
    ("classification", ["--nodes", "2", "--network", "bridge"],
     "error: --nodes needs the host network (the nodes meet at 127.0.0.1), not --network "
     "bridge\n"),
    ("classification", ["--rerun", "--nodes", "2"],
     "error: --nodes cannot be used with --rerun\n"),
])
def test_dev_run_nproc_per_node_is_checked_before_docker(
        tmp_path: Path, template: str,
        args: list[str], message: str) -> None:
    proj = copy_project(template, tmp_path / "p")
    result = runner.invoke(app, ["dev-run", str(proj), *args])
    assert result.exit_code == 2, result.output
    assert message in result.stderr
