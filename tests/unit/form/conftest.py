from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.scaffold.conftest import render_template


@pytest.fixture(scope="session")
def rendered_form(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("form-rendered")
    return {t: render_template(base / t, t) for t in ("sklearn", "classification")}


@pytest.fixture()
def project(rendered_form: dict[str, Path], tmp_path: Path) -> Path:
    dst = tmp_path / "proj"
    shutil.copytree(rendered_form["sklearn"], dst, symlinks=True)
    return dst
