"""Locate tc's data folders: ``scaffolds/`` and ``validation/``.

In a source checkout (editable install) they sit next to the ``tcli`` package; in a wheel
they are installed as ``tcli/_data/<name>``. ``TC_SCAFFOLDS_DIR`` overrides the scaffolds
folder (tests use it to simulate a newer scaffold version).
"""

from __future__ import annotations

import os
from pathlib import Path

_PKG = Path(__file__).resolve().parent


def _data_dir(name: str) -> Path:
    for candidate in (_PKG / "_data" / name, _PKG.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"tc installation is incomplete: no {name}/ folder near {_PKG}")


def scaffolds_dir() -> Path:
    """The Copier template folder (holds ``copier.yml``)."""
    override = os.environ.get("TC_SCAFFOLDS_DIR")
    return Path(override).resolve() if override else _data_dir("scaffolds")


def validation_dir() -> Path:
    """The platform's structure/schema files used by ``tc validate``."""
    return _data_dir("validation")


def tc_home() -> Path:
    """Per-user state (the scaffold version store); ``TC_HOME`` overrides."""
    override = os.environ.get("TC_HOME")
    if override:
        return Path(override)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "tc"


def cache_home() -> Path:
    """Per-user cache (downloaded weights, content-addressed): ``TC_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/tc``, else ``~/.cache/tc``."""
    override = os.environ.get("TC_CACHE_DIR")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tc"
