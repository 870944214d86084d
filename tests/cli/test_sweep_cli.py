"""tc sweep through Typer's CliRunner: --help, --dry-run (exact output), bad --param lines."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tcli.cli import app

runner = CliRunner()


@pytest.fixture()
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/dead.sock")  # never contacted
    monkeypatch.delenv("TC_NETWORK", raising=False)
    monkeypatch.delenv("TC_BASE_IMAGE", raising=False)


def test_help_has_example_and_flags() -> None:
    result = runner.invoke(app, ["sweep", "--help"])
    assert result.exit_code == 0
    out = " ".join(result.output.split())
    for flag in ("--trials", "--param", "--sweep-file", "--minimize", "--parallel", "--timeout",
                 "--name", "--resume", "--apply", "--json", "--dry-run"):
        assert flag in out, flag
    assert "Example: tc sweep --demo --trials 8 --param c=0.01:10:log" in out


def test_dry_run_exact(new_project: Callable[..., Path], offline: None) -> None:
    root = new_project("sklearn")
    result = runner.invoke(app, ["sweep", str(root), "--demo", "--trials", "8", "--name", "s1",
                                 "--param", "c=0.1:10:log", "--param", "n-estimators=50",
                                 "--gpus", "none", "--dry-run"])
    assert result.exit_code == 0, result.output
    name = "tc-sklearn-prov-cat-arch-sweep-s1-1"
    assert result.output == (
        "tc sweep --dry-run: s1 on Prov/Cat/Arch, 8 trials, maximize Acc., 1 at a time\n"
        "  architecture         categorical  logistic_regression,random_forest\n"
        "  img-size             int          4:128\n"
        "  histogram-bins       int          2:256:log\n"
        "  c                    float        0.1:10.0:log\n"
        "  max-iter             int          10:100000:log\n"
        "  n-estimators         fixed        50\n"
        "  max-depth            int          0:1000\n"
        "trial 1 (train_config.json's values): architecture=logistic_regression img-size=16 "
        "histogram-bins=8 c=1 max-iter=1000 max-depth=0\n"
        "trial 1's container:\n"
        "  docker create \\\n"
        f"    --name {name} \\\n"
        "    --ipc host \\\n"
        "    --shm-size 8g \\\n"
        "    --ulimit memlock=-1:-1 \\\n"
        "    --ulimit stack=67108864:67108864 \\\n"
        "    -e DATASET_ID=1 \\\n"
        "    -e NVIDIA_VISIBLE_DEVICES=void \\\n"
        f"    -v {root}/.tc/minio:/minio:rw \\\n"
        f"    -v {root}/.tc/sweeps/s1/trials/0001/train:/train:rw \\\n"
        f"    --label org.tc.project={root} \\\n"
        "    --label org.tc.template=Prov/Cat/Arch \\\n"
        "    --label org.tc.sweep=s1 \\\n"
        "    --label org.tc.sweep-trial=1 \\\n"
        "    --label org.tc.dev-run=1 \\\n"
        "    tc-dev/sklearn-prov-cat-arch:latest\n"
        "  then /workspace/train_config.json is written into it (the trial's values) before it "
        "starts\n"
        f"storage: {root}/.tc/sweeps/s1/study.db\n"
        "nothing was built, written or started (--dry-run does not contact Docker)\n"
    )
    assert not (root / ".tc").exists()  # nothing written


def test_dry_run_json_has_the_trial_config(new_project: Callable[..., Path], offline: None) -> None:
    root = new_project("sklearn")
    result = runner.invoke(app, ["sweep", str(root), "--demo", "--trials", "3", "--name", "s2",
                                 "--param",
                                 "architecture=random_forest", "--gpus", "none", "--dry-run",
                                 "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["first_trial"]["train_config"]["architecture"] == "random_forest"
    assert doc["first_trial"]["create"]["files"][0][0] == "/workspace/train_config.json"
    assert json.loads(doc["first_trial"]["create"]["files"][0][1]) == \
        doc["first_trial"]["train_config"]


@pytest.mark.parametrize(("param", "line"), [
    ("lr=0.1:1", "error: --param lr=0.1:1: lr is not a parameter of config.jsonschema\n"),
    ("img-size=2:64", "error: --param img-size=2:64: 2 is outside img-size's bounds [4, 128] in "
                      "config.jsonschema\n"),
    ("architecture=a:b", "error: --param architecture=a:b: architecture is a string parameter, "
                         "not a number: a range needs numbers\n"),
])
def test_bad_param_is_one_exit_2_line(new_project: Callable[..., Path], offline: None,
                                      param: str, line: str) -> None:
    root = new_project("sklearn")
    result = runner.invoke(app, ["sweep", str(root), "--trials", "3", "--param", param])
    assert result.exit_code == 2
    assert result.output.splitlines()[0] + "\n" == line
    assert "Traceback" not in result.output
    assert not (root / ".tc").exists()


def test_resume_of_an_unknown_sweep(new_project: Callable[..., Path], offline: None) -> None:
    root = new_project("sklearn")
    result = runner.invoke(app, ["sweep", str(root), "--resume", "nope"])
    assert result.exit_code == 2
    assert result.output.startswith(f"error: no sweep named 'nope' ({root}/.tc/sweeps/nope)\n")
