"""tc demo-data through the Typer app."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from tcli.cli import app


def test_demo_data_writes_dataset(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["demo-data", str(tmp_path), "--task", "detection", "--images", "4", "--seed", "2",
              "--dataset-id", "9"],
    )
    assert result.exit_code == 0, result.output
    target = tmp_path / "datasets" / "9"
    assert result.output == f"wrote 4 images and annotations/annotations.xml to {target}\n"
    assert (target / "annotations" / "annotations.xml").is_file()


def test_demo_data_unknown_task(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["demo-data", str(tmp_path), "--task", "pose"])
    assert result.exit_code == 2
    assert "error: --task: unknown task 'pose'" in result.output
    assert not (tmp_path / "datasets").exists()
