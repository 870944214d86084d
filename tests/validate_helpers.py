"""Rendered projects for the tc validate / tc package tests: the session's one render per
template (tests/conftest.py), copied per test; broken-project tests start from a fresh copy
and break one thing each.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tcli.contract import TEMPLATE_NAMES
from tests.conftest import KEY, copy_project, pristine_project

TEMPLATES = TEMPLATE_NAMES


def rendered(template: str, base: Path | None = None) -> Path:
    """The session's pristine render of ``template`` (never modify it). ``base`` is not used
    (the session's render lives under pytest's base temp folder)."""
    return pristine_project(template)


def fresh(template: str, base: Path | None, dest: Path) -> Path:
    """A private copy of the rendered project at ``dest`` (``base``: not used)."""
    return copy_project(template, dest)


def tdir(project: Path, key: str = KEY) -> Path:
    return project / "templates" / key


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def dump(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2) + "\n", encoding="utf-8")
