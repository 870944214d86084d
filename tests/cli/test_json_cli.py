"""Every command's ``--json`` goes through the one renderer (issue 27, item 3).

Each command with a ``--json`` option runs here in a fresh ``python -m tcli`` on the session's
rendered project (tests/conftest.py) and its stdout must be one JSON document and nothing else
(progress and notes go to stderr). A static check keeps JSON out of tcli/commands: a command
hands a result with ``to_json()`` to ``tcli.ui.render.emit``; it never calls ``json.dumps``,
``typer.echo`` or ``print`` itself.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tcli.datasets.demo import write_demo_dataset
from tests.conftest import copy_project

ROOT = Path(__file__).resolve().parent.parent.parent
COMMANDS = ROOT / "tcli" / "commands"
#: Every command with a --json option (the static test below finds them all in tcli/commands).
JSON_COMMANDS = {"dataset inspect", "dev-run", "doctor", "explain", "model export", "report",
                 "sweep", "validate", "weights list"}


def tc(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(ROOT), **env}
    return subprocess.run([sys.executable, "-m", "tcli", *args], cwd=cwd, env=full,
                          capture_output=True, text=True, timeout=600, check=False)


def one_document(r: subprocess.CompletedProcess[str]) -> dict[str, object]:
    """stdout parsed as one JSON object (json.loads refuses anything after the document)."""
    assert r.stdout.lstrip().startswith("{"), f"stdout is not JSON:\n{r.stdout}\n{r.stderr}"
    doc = json.loads(r.stdout)
    assert isinstance(doc, dict)
    return doc


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_project("sklearn", tmp_path_factory.mktemp("json") / "proj")


def test_validate_json(project: Path) -> None:
    r = tc("validate", str(project), "--json", cwd=project)
    assert r.returncode == 0, r.stderr
    assert one_document(r)["ok"] is True


def test_doctor_json(project: Path, tmp_path: Path) -> None:
    r = tc("doctor", "--json", cwd=project, DOCKER_HOST=f"unix://{tmp_path}/dead.sock")
    assert r.returncode == 1, r.stderr
    assert one_document(r)["ok"] is False


def test_explain_json(project: Path, tmp_path: Path) -> None:
    log = tmp_path / "train.log"
    log.write_text("epoch 1\ntorch.OutOfMemoryError: CUDA out of memory. Tried to allocate "
                   "2.00 GiB\n")
    r = tc("explain", str(log), "--json", "--project", str(project), cwd=project)
    assert r.returncode == 0, r.stderr
    assert one_document(r)


def test_dev_run_dry_run_json(project: Path, tmp_path: Path) -> None:
    r = tc("dev-run", str(project), "--demo", "--dry-run", "--json", "--gpus", "none",
           cwd=project, DOCKER_HOST=f"unix://{tmp_path}/dead.sock")
    assert r.returncode == 0, r.stderr
    assert one_document(r)["dry_run"] is True


def test_dataset_inspect_json(tmp_path: Path) -> None:
    write_demo_dataset(tmp_path / "minio", "classification", images=6, dataset_id=1)
    r = tc("dataset", "inspect", str(tmp_path / "minio"), "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert one_document(r)["images"] == 6


def test_weights_list_json(project: Path) -> None:
    r = tc("weights", "list", "--project", str(project), "--json", cwd=project)
    assert r.returncode == 0, r.stderr
    assert one_document(r)["weights"] == []


def test_sweep_dry_run_json(project: Path, tmp_path: Path) -> None:
    r = tc("sweep", str(project), "--demo", "--trials", "2", "--gpus", "none", "--dry-run",
           "--json", cwd=project, DOCKER_HOST=f"unix://{tmp_path}/dead.sock")
    assert r.returncode == 0, r.stderr
    assert one_document(r)


def test_model_export_json(tmp_path: Path) -> None:
    from tests.unit.model.tinyrun import tiny_run

    proj = tiny_run(tmp_path)
    r = tc("model", "export", str(proj), "--to", "onnx-fp16", "--json", cwd=proj)
    assert r.returncode == 0, r.stderr
    assert one_document(r)


@pytest.mark.slow
def test_report_json(tmp_path: Path) -> None:
    from tests.unit.report.runs import trained_project

    proj, _datasets = trained_project(tmp_path, "sklearn")
    r = tc("report", str(proj), "--json", cwd=proj)
    assert r.returncode == 0, r.stderr
    assert "model" in one_document(r)


def _json_commands() -> set[str]:
    """Commands (``group sub`` for a sub-command) that declare a ``--json`` option."""
    found = set()
    for path in COMMANDS.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for fn in ast.walk(tree):
            if isinstance(fn, ast.FunctionDef) and any(
                    isinstance(c, ast.Constant) and c.value == "--json"
                    for c in ast.walk(fn.args)):
                name = path.stem.replace("_", "-")
                for dec in fn.decorator_list:
                    if isinstance(dec, ast.Call) and dec.args and isinstance(dec.args[0], ast.Constant):
                        name = f"{name} {dec.args[0].value}"
                found.add(name)
    return found


def test_every_json_command_is_run_here() -> None:
    assert _json_commands() == JSON_COMMANDS


def printers(source: str, filename: str) -> list[str]:
    """Calls in a command module that print (or build) output past the renderer."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, ast.Call):
            continue
        text = ast.unparse(node.func)
        if text in ("print", "json.dumps", "json.dump", "typer.echo", "sys.stdout.write",
                    "sys.stderr.write", "typer.secho", "click.echo"):
            found.append(f"{filename}:{node.lineno}: {ast.unparse(node)[:80]}")
    return found


def test_commands_print_through_the_ui() -> None:
    found: list[str] = []
    for path in sorted(COMMANDS.glob("*.py")):
        found += printers(path.read_text(encoding="utf-8"), f"tcli/commands/{path.name}")
    assert not found, ("hand the result to tcli.ui.render.emit (JSON) or tcli.ui.console "
                       "(text):\n" + "\n".join(found))


@pytest.mark.parametrize(("source", "bad"), [
    ("import json, typer\ntyper.echo(json.dumps(doc))", True),
    ("print(doc)", True),
    ("from tcli.ui import render\nrender.emit(result, as_json, show)", False),
    ("from tcli.ui import console\nconsole.print(text)", False),
])
def test_the_scan_sees_a_printer(source: str, bad: bool) -> None:
    assert bool(printers(source, "x.py")) is bad


def test_the_renderer_prints_json_as_it_is(capsys: pytest.CaptureFixture[str]) -> None:
    from tcli.ui import render

    text = json.dumps({"label": ":smile: [bold]x[/bold]", "long": "y" * 300}, indent=2)
    render.print_json(text)
    assert capsys.readouterr().out == text + "\n"
