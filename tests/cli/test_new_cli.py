"""tc new / tc --help / tc --version through Typer's CliRunner (exact messages)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tcli import __version__
from tcli.cli import app

runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"tc {__version__}\n"


def test_help_lists_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in ("new", "update"):
        assert re.search(rf"│ {name}\s", result.output), name


def test_new_help_has_example() -> None:
    result = runner.invoke(app, ["new", "--help"])
    assert result.exit_code == 0
    assert "Example: tc new my-container --template classification" in result.output


def _new(dest: Path, *extra: str) -> object:
    return runner.invoke(app, ["new", str(dest), "--provider", "P", "--category", "C",
                               "--architecture", "A", "--template", "detection", *extra])


def test_new_renders_and_refuses_second_time(tmp_path: Path) -> None:
    dest = tmp_path / "proj"
    first = _new(dest, "--defaults")
    assert first.exit_code == 0, first.output
    assert re.match(rf"Created {re.escape(str(dest))} \(detection: P/C/A, \d+ files, git initialised\)\n",
                    first.output)
    train = dest / "templates/P/C/A/docker/train.py"
    train.write_text("# my edits\n")
    before = {p: p.read_bytes() for p in dest.rglob("*") if p.is_file() and ".git" not in p.parts}
    second = _new(dest, "--defaults")
    assert second.exit_code == 2
    assert second.stderr == (
        f"error: {dest}: folder exists and is not empty; nothing was written\n"
        "hint: choose a new folder, or pass --force to render into it (tc's files are overwritten)\n"
    )
    after = {p: p.read_bytes() for p in dest.rglob("*") if p.is_file() and ".git" not in p.parts}
    assert after == before


def test_new_force_renders_into_non_empty(tmp_path: Path) -> None:
    dest = tmp_path / "proj"
    dest.mkdir()
    (dest / "notes.txt").write_text("mine")
    result = _new(dest, "--force", "--no-git")
    assert result.exit_code == 0, result.output
    assert (dest / "notes.txt").read_text() == "mine"
    assert (dest / "templates/P/C/A/docker/Dockerfile").is_file()


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--provider", "../evil"), ("--category", "a/b"), ("--architecture", "has space"),
     ("--provider", ".hidden"), ("--category", "..")],
)
def test_unsafe_segment_named(tmp_path: Path, flag: str, value: str) -> None:
    result = runner.invoke(app, ["new", str(tmp_path / "p"), flag, value, "--defaults"])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == f"error: {flag} {value!r} is not a safe folder name"
    assert not (tmp_path / "p").exists()


def test_empty_segment(tmp_path: Path) -> None:
    result = runner.invoke(app, ["new", str(tmp_path / "p"), "--provider", "", "--defaults"])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == "error: --provider must not be empty"


def test_unknown_template_lists_available(tmp_path: Path) -> None:
    result = runner.invoke(app, ["new", str(tmp_path / "p"), "--template", "yolo"])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == (
        "error: --template 'yolo' is unknown; available: classification, detection, "
        "segmentation, sklearn"
    )


def test_new_without_flags_and_no_tty_uses_defaults(tmp_path: Path) -> None:
    dest = tmp_path / "plain"
    result = runner.invoke(app, ["new", str(dest), "--no-git"])
    assert result.exit_code == 0, result.output
    assert (dest / "templates/Torchvision/Classification/ResNet18/docker/train.py").is_file()


def test_help_does_not_import_heavy_modules() -> None:
    code = (
        "import sys, tcli.cli; "
        "heavy = [m for m in ('docker', 'torch', 'copier', 'jsonschema', 'lxml') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
