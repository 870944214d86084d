"""Render each template once per session; tests copy the rendered tree."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tcli import scaffold

TEMPLATES = list(scaffold.TEMPLATES)


def render_template(dest: Path, template: str, **extra: str) -> Path:
    answers = {"template": template, "provider": "Prov", "category": "Cat",
               "architecture": f"Arch{template.capitalize()}", **extra}
    scaffold.render(dest, answers, defaults=True)
    return dest


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("rendered")
    return {t: render_template(base / t, t) for t in TEMPLATES}


@pytest.fixture()
def project_copy(rendered: dict[str, Path], tmp_path: Path):  # type: ignore[no-untyped-def]
    def _copy(template: str) -> Path:
        dst = tmp_path / template
        shutil.copytree(rendered[template], dst, symlinks=True)
        return dst

    return _copy
