"""Rendered projects for the tc validate / tc package tests (rendered once per session).

Each template is rendered once per test session (rendering is slow-ish) and copied per
test; broken-project tests start from a fresh copy and break one thing each.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from tcli import scaffold

TEMPLATES = ("classification", "detection", "segmentation", "sklearn")
KEY = "Prov/Cat/Arch"
_CACHE: dict[str, Path] = {}


def rendered(template: str, base: Path) -> Path:
    """The session's pristine render of ``template`` (never modify it)."""
    if template not in _CACHE:
        dest = base / "tc-render-cache" / template
        if dest.exists():
            shutil.rmtree(dest)
        scaffold.render(dest, {"template": template, "provider": "Prov", "category": "Cat",
                               "architecture": "Arch"}, defaults=True)
        _CACHE[template] = dest
    return _CACHE[template]


def fresh(template: str, base: Path, dest: Path) -> Path:
    """A private copy of the rendered project at ``dest``."""
    shutil.copytree(rendered(template, base), dest, symlinks=True)
    return dest


def tdir(project: Path, key: str = KEY) -> Path:
    return project / "templates" / key


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def dump(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2) + "\n", encoding="utf-8")
