"""The scaffold tier's fixtures: each template rendered once per session (tests/conftest.py's
:func:`~tests.conftest.pristine_project`); tests copy the rendered tree."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tcli.contract import TEMPLATE_NAMES
from tests.conftest import copy_project, pristine_project, render_project

TEMPLATES = list(TEMPLATE_NAMES)


def render_template(dest: Path, template: str, **extra: str) -> Path:
    """``template`` at ``dest``: a copy of the session's render, or (with ``extra`` answers) a
    render of its own."""
    if extra:
        return render_project(dest, template, **extra)
    return copy_project(template, dest)


@pytest.fixture(scope="session")
def rendered() -> dict[str, Path]:
    """Every template's pristine render (never modify one: copy it with ``project_copy``)."""
    return {t: pristine_project(t) for t in TEMPLATES}


@pytest.fixture()
def project_copy(tmp_path: Path) -> Callable[[str], Path]:
    def _copy(template: str) -> Path:
        return copy_project(template, tmp_path / template)

    return _copy
