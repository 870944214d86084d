"""Acceptance: for every template, tc new && tc validate && tc package --verify passes, and
packaging twice gives the same sha256."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tcli.cli import app
from tests.validate_helpers import TEMPLATES

runner = CliRunner()


@pytest.mark.parametrize("template", TEMPLATES)
def test_new_validate_package_verify(template: str, tmp_path: Path) -> None:
    proj = tmp_path / "proj"
    new = runner.invoke(app, ["new", str(proj), "--template", template, "--provider", "Prov",
                              "--category", "Cat", "--architecture", "Arch", "--no-git"])
    assert new.exit_code == 0, new.output
    validated = runner.invoke(app, ["validate", str(proj), "--strict"])
    assert validated.exit_code == 0, validated.output
    shas = []
    for name in ("a.zip", "b.zip"):
        result = runner.invoke(app, ["package", str(proj), "-o", str(tmp_path / name),
                                     "--verify"])
        assert result.exit_code == 0, result.output
        assert "verified:" in result.stdout
        match = re.search(r"sha256 ([0-9a-f]{64})", result.stdout)
        assert match
        shas.append(match.group(1))
    assert shas[0] == shas[1]
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    zipped = runner.invoke(app, ["validate", "--zip", str(tmp_path / "a.zip"), "--strict"])
    assert zipped.exit_code == 0, zipped.output
