"""tc update: Copier's three-way merge of a newer scaffold version into a project."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tcli.cli import app
from tests.conftest import SCAFFOLDS

runner = CliRunner()
ENV_REL = "templates/P/C/A/docker/.env"
ENV_SRC = "project/templates/{{provider}}/{{category}}/{{architecture}}/docker/.env"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout


@pytest.fixture()
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A private copy of the scaffolds (TC_SCAFFOLDS_DIR) and a project rendered from it."""
    scaffolds = tmp_path / "scaffolds"
    shutil.copytree(SCAFFOLDS, scaffolds, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setenv("TC_SCAFFOLDS_DIR", str(scaffolds))
    monkeypatch.setenv("TC_HOME", str(tmp_path / "home"))
    project = tmp_path / "proj"
    result = runner.invoke(app, ["new", str(project), "--template", "sklearn", "--provider", "P",
                                 "--category", "C", "--architecture", "A"])
    assert result.exit_code == 0, result.output
    return scaffolds, project


def test_update_merges_scaffold_change_and_keeps_user_edits(setup: tuple[Path, Path]) -> None:
    scaffolds, project = setup
    readme_src = scaffolds / "project" / "README.md.jinja"
    readme_src.write_text(readme_src.read_text() + "\nNew scaffold section.\n")
    env_src = scaffolds / ENV_SRC
    env_src.write_text(env_src.read_text() + "OMP_NUM_THREADS=4\n")
    train = project / "templates/P/C/A/docker/train.py"
    train.write_text(train.read_text() + "\n# user tuning\n")
    git(project, "commit", "-qam", "user edit")

    result = runner.invoke(app, ["update", str(project)])
    assert result.exit_code == 0, result.output
    assert "Updated " in result.output and "Review with 'git diff', then commit." in result.output
    assert "New scaffold section." in (project / "README.md").read_text()
    assert (project / ENV_REL).read_text().endswith("OMP_NUM_THREADS=4\n")
    assert train.read_text().endswith("# user tuning\n")
    answers = (project / ".copier-answers.yml").read_text()
    assert "_commit: 0.1.0.post" in answers

    again = runner.invoke(app, ["update", str(project)])
    assert again.exit_code == 2  # the update above is not committed yet: tree dirty
    git(project, "commit", "-qam", "took update")
    again = runner.invoke(app, ["update", str(project)])
    assert again.exit_code == 0
    assert again.output.startswith("Already up to date")


def test_update_reports_conflicts(setup: tuple[Path, Path]) -> None:
    scaffolds, project = setup
    env_src = scaffolds / ENV_SRC
    env_src.write_text(env_src.read_text().replace("PYTHONUNBUFFERED=1", "PYTHONUNBUFFERED=0"))
    env = project / ENV_REL
    env.write_text(env.read_text().replace("PYTHONUNBUFFERED=1", "PYTHONUNBUFFERED=yes"))
    git(project, "commit", "-qam", "user edit of the same line")

    result = runner.invoke(app, ["update", str(project)])
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        f"error: 1 file(s) with merge conflicts: {ENV_REL}"
    )
    text = env.read_text()
    assert "<<<<<<<" in text and "PYTHONUNBUFFERED=yes" in text and "PYTHONUNBUFFERED=0" in text


def test_update_refuses_dirty_tree_unless_force(setup: tuple[Path, Path]) -> None:
    scaffolds, project = setup
    readme_src = scaffolds / "project" / "README.md.jinja"
    readme_src.write_text(readme_src.read_text() + "\nMore.\n")
    train = project / "templates/P/C/A/docker/train.py"
    train.write_text(train.read_text() + "\n# uncommitted\n")

    refused = runner.invoke(app, ["update", str(project)])
    assert refused.exit_code == 2
    assert refused.stderr.splitlines()[0] == f"error: {project}: uncommitted changes; nothing was updated"
    assert "More." not in (project / "README.md").read_text()

    forced = runner.invoke(app, ["update", str(project), "--force"])
    assert forced.exit_code == 0, forced.output
    assert "More." in (project / "README.md").read_text()
    assert train.read_text().endswith("# uncommitted\n")
    assert "tc update: snapshot of local changes" in git(project, "log", "--format=%s")


def test_update_outside_a_project(tmp_path: Path) -> None:
    result = runner.invoke(app, ["update", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == (
        f"error: {tmp_path.resolve()}/.copier-answers.yml: missing; this project was not made by 'tc new'"
    )


def test_dry_run_lists_files_and_writes_nothing(setup: tuple[Path, Path]) -> None:
    scaffolds, project = setup
    readme_src = scaffolds / "project" / "README.md.jinja"
    readme_src.write_text(readme_src.read_text() + "\nNew scaffold section.\n")
    env_src = scaffolds / ENV_SRC
    env_src.write_text(env_src.read_text().replace("PYTHONUNBUFFERED=1", "PYTHONUNBUFFERED=0"))
    env = project / ENV_REL
    env.write_text(env.read_text().replace("PYTHONUNBUFFERED=1", "PYTHONUNBUFFERED=yes"))
    git(project, "commit", "-qam", "user edit of the same line")
    head = git(project, "rev-parse", "HEAD")
    before = {p: p.read_bytes() for p in project.rglob("*") if p.is_file() and ".git" not in p.parts}

    result = runner.invoke(app, ["update", "--dry-run", str(project)])
    assert result.exit_code == 0, result.output
    lines = [ln.split() for ln in result.output.splitlines() if ln.startswith("  ")]
    states = {rel: state for state, rel in lines}
    assert states["README.md"] == "updated"
    assert states[ENV_REL] == "conflicting"
    assert states["templates/P/C/A/docker/train.py"] == "unchanged"
    assert "nothing was written" in result.output
    after = {p: p.read_bytes() for p in project.rglob("*") if p.is_file() and ".git" not in p.parts}
    assert after == before and git(project, "rev-parse", "HEAD") == head
