"""Fixtures of the hostile suite: the session's git-initialised sklearn project (one render,
tests/conftest.py), copied per test."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import KEY, copy_project, pristine_project
from tests.hostile.harness import Snapshot, assert_same, env_for, snapshot


@pytest.fixture(scope="session")
def pristine() -> Path:
    """The session's sklearn project as ``tc new`` makes it (rendered, git-initialised,
    committed): tests/conftest.py's one render per template. Never modify it."""
    return pristine_project("sklearn", git=True)


@pytest.fixture()
def proj(tmp_path: Path) -> Path:
    """A private copy of a freshly made sklearn project under ``tmp_path/proj``."""
    return copy_project("sklearn", tmp_path / "proj", git=True)


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


@pytest.fixture()
def good_zip(proj: Path, tmp_path: Path) -> Path:
    """The upload ZIP of ``proj``, as `tc package` writes it."""
    from tests.hostile.harness import tc

    out = tmp_path / "good.zip"
    r = tc("package", str(proj), "-o", str(out), cwd=tmp_path)
    assert r.rc == 0, r.stderr
    return out
