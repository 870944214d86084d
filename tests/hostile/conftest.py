"""Fixtures of the hostile suite: a project made by ``tc new`` once per session, copied per test."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hostile.harness import Snapshot, assert_same, env_for, snapshot, tc

KEY = "Prov/Cat/Arch"


@pytest.fixture(scope="session")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("hostile-pristine")
    r = tc("new", "proj", "--template", "sklearn", "--provider", "Prov", "--category", "Cat",
           "--architecture", "Arch", "--defaults", cwd=base, timeout=180)
    assert r.rc == 0, r.stderr
    return base / "proj"


@pytest.fixture()
def proj(pristine: Path, tmp_path: Path) -> Path:
    """A private copy of a freshly made sklearn project under ``tmp_path/proj``."""
    dest = tmp_path / "proj"
    shutil.copytree(pristine, dest, symlinks=True)
    return dest


def tdir(project: Path) -> Path:
    return project / "templates" / KEY


class Guard:
    """Hash ``root`` (minus the declared outputs) now, and compare on :meth:`check`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.before: Snapshot = {}
        self.exclude: tuple[Path, ...] = ()

    def start(self, *outputs: Path) -> None:
        self.exclude = (self.root / ".home", self.root / ".tc-home", *outputs)
        self.before = snapshot(self.root, self.exclude)

    def check(self) -> None:
        assert_same(self.before, snapshot(self.root, self.exclude))


@pytest.fixture()
def guard(tmp_path: Path) -> Iterator[Guard]:
    g = Guard(tmp_path)
    yield g


@pytest.fixture()
def env(tmp_path: Path) -> dict[str, str]:
    return env_for(tmp_path)


__all__ = ["KEY", "Guard", "shutil", "tdir"]
