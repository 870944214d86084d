"""tc validate through the CLI: exit codes, the exact table, the documented --json format."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from tcli.cli import app
from tcli.paths import validation_dir
from tests.conftest import copy_project
from tests.validate_helpers import KEY, tdir

runner = CliRunner()


@pytest.fixture()
def proj(new_project: Callable[..., Path]) -> Path:
    return new_project("classification", name="proj")


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["validate", *args])


def test_clean_project_exits_0(proj: Path) -> None:
    result = invoke(str(proj))
    assert result.exit_code == 0, result.output
    assert result.stdout == f"project {proj}: 0 errors, 0 warnings (templates: {KEY})\n"


def test_exact_table_for_one_error(proj: Path) -> None:
    env = tdir(proj) / "docker" / ".env"
    text = env.read_text()
    env.write_text(text + "DATASET_ID=7\n")
    n = len(text.splitlines()) + 1
    result = invoke(str(proj))
    assert result.exit_code == 1
    assert [ln.rstrip() for ln in result.stdout.splitlines()] == [
        "Severity   File                                  Location   Message"
        + " " * 82 + "Fix",
        "─" * 200,
        f"error      templates/{KEY}/docker/.env   {f'line {n}':<8}   DATASET_ID must not be set "
        "in .env: the platform writes it there to switch datasets,     delete the line; tc "
        "dev-run sets DATASET_ID for you",
        " " * 60 + "and a value here would win over docker run -e",
        f"project {proj}: 1 error, 0 warnings (templates: {KEY})",
    ]
    lines = result.stdout.splitlines()
    assert lines[-1] == f"project {proj}: 1 error, 0 warnings (templates: {KEY})"
    assert result.stderr == ("error: validation failed: 1 error\n"
                             "hint: fix the findings above; each row says how\n")


def test_warnings_fail_only_with_strict(proj: Path) -> None:
    (tdir(proj) / "notes.txt").write_text("x")
    assert invoke(str(proj)).exit_code == 0
    result = invoke(str(proj), "--strict")
    assert result.exit_code == 1
    assert "validation failed: 1 warning with --strict" in result.stderr


def test_unusable_input_exits_2(tmp_path: Path) -> None:
    result = invoke(str(tmp_path / "nope"))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {tmp_path / 'nope'}: no such project folder")
    bad = tmp_path / "x.zip"
    bad.write_text("no zip")
    assert invoke("--zip", str(bad)).exit_code == 2
    assert invoke(str(tmp_path), "--log", str(tmp_path / "missing.log")).exit_code == 2


def test_json_output_is_documented_format(proj: Path) -> None:
    env = tdir(proj) / "docker" / ".env"
    text = env.read_text()
    env.write_text(text + "DATASET_ID=7\n")
    (tdir(proj) / "notes.txt").write_text("x")
    result = invoke(str(proj), "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    schema = json.loads((validation_dir() / "tc-validate-output.jsonschema").read_text())
    jsonschema.validate(data, schema)
    assert data == {
        "version": 1, "ok": False, "strict": False,
        "summary": {"errors": 1, "warnings": 1},
        "targets": [{"kind": "project", "path": str(proj), "templates": [KEY]}],
        "findings": [
            {"severity": "error", "code": "env.dataset-id", "target": "project",
             "file": f"templates/{KEY}/docker/.env", "pointer": None,
             "line": len(text.splitlines()) + 1, "column": None,
             "message": "DATASET_ID must not be set in .env: the platform writes it there to "
                        "switch datasets, and a value here would win over docker run -e",
             "fix": "delete the line; tc dev-run sets DATASET_ID for you"},
            {"severity": "warning", "code": "structure.unexpected", "target": "project",
             "file": f"templates/{KEY}/notes.txt", "pointer": None, "line": None,
             "column": None,
             "message": "not packaged: only config/ and docker/ of a template are uploaded",
             "fix": "move it into docker/ (code) or config/, or delete it"},
        ],
    }


def test_json_clean_and_strict(proj: Path) -> None:
    result = invoke(str(proj), "--json", "--strict")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert (data["ok"], data["strict"], data["findings"]) == (True, True, [])


def test_zip_and_project_together(proj: Path, tmp_path: Path) -> None:
    out = tmp_path / "p.zip"
    assert runner.invoke(app, ["package", str(proj), "-o", str(out)]).exit_code == 0
    result = invoke(str(proj), "--zip", str(out), "--json")
    assert result.exit_code == 0, result.output
    kinds = [t["kind"] for t in json.loads(result.stdout)["targets"]]
    assert kinds == ["project", "zip"]


def test_several_architectures_at_once(proj: Path, tmp_path: Path) -> None:
    other = copy_project("sklearn", tmp_path / "other")
    shutil.copytree(tdir(other), proj / "templates" / "Sk" / "Learn" / "Logistic")
    broken = proj / "templates" / "Sk" / "Learn" / "Logistic" / "config" / "custom.json"
    data = json.loads(broken.read_text())
    data["model_filepath"] = "/elsewhere/model.onnx"
    broken.write_text(json.dumps(data))
    result = invoke(str(proj), "--json")
    assert result.exit_code == 1
    out = json.loads(result.stdout)
    assert out["targets"][0]["templates"] == [KEY, "Sk/Learn/Logistic"]
    assert [(f["code"], f["file"]) for f in out["findings"]] == [
        ("model.outside-output-dir", "templates/Sk/Learn/Logistic/config/custom.json")]
    only_one = invoke(str(proj), "--template", KEY)
    assert only_one.exit_code == 0
