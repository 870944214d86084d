"""Every rename over a file happens in ``tcli/safety/atomic.py`` (issue 27, item 3).

A hand-written "temporary file, then ``os.replace``" is how a write loses the fsync, the kept
permission bits, the clean-up of the temporary file on Ctrl-C or the one-line error naming the
path. This test reads every module of tcli with :mod:`ast` and fails on a rename anywhere else:
``os.replace``/``os.rename``/``os.renames``/``shutil.move``, ``Path.replace(target)`` /
``Path.rename(target)`` (one positional argument: ``str.replace`` takes two) and
``tempfile.mkstemp``/``NamedTemporaryFile`` (the first half of a hand-written atomic write).
Write with ``atomic.atomic_open``/``write_bytes``/``write_text``; move a staged file or folder
into place with ``atomic.replace``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "tcli"
#: The one module allowed to rename (relative to the repository root).
HOME = "tcli/safety/atomic.py"
#: module -> reason, for a rename that truly cannot go through atomic.py (none today).
ALLOWED: dict[str, str] = {}

_MODULE_CALLS = {("os", "replace"), ("os", "rename"), ("os", "renames"), ("shutil", "move"),
                 ("tempfile", "mkstemp"), ("tempfile", "NamedTemporaryFile")}


def offenders(source: str, filename: str) -> list[str]:
    """The renames (and temporary files made to be renamed) in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        func = node.func
        owner = func.value.id if isinstance(func.value, ast.Name) else None
        if (owner, func.attr) in _MODULE_CALLS or (
                owner not in ("os", "shutil", "tempfile", "dataclasses", "copy")
                and func.attr in ("replace", "rename") and len(node.args) == 1
                and not node.keywords):
            found.append(f"{filename}:{node.lineno}: {ast.unparse(node)[:80]}")
    return found


def test_renames_only_in_safety_atomic() -> None:
    found: list[str] = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG.parent).as_posix()
        if rel == HOME or rel in ALLOWED:
            continue
        found += offenders(path.read_text(encoding="utf-8"), rel)
    assert not found, ("write through tcli/safety/atomic.py (atomic_open, write_bytes, "
                       "write_text; atomic.replace for a staged file or folder):\n"
                       + "\n".join(found))


@pytest.mark.parametrize(("source", "bad"), [
    ("import os\nos.replace(tmp, path)", True),
    ("import os\nos.rename(a, b)", True),
    ("import shutil\nshutil.move(a, b)", True),
    ("tmp.replace(path)", True),
    ("Path(tmp).rename(target)", True),
    ("import tempfile\nfd, name = tempfile.mkstemp(dir=d)", True),
    ("text.replace('a', 'b')", False),
    ("stamp.replace(tzinfo=None)", False),
    ("import dataclasses\ndataclasses.replace(obj)", False),
    ("from tcli.safety import atomic\natomic.replace(stage, dest)", False),
    ("import tempfile\ntempfile.TemporaryDirectory()", False),
])
def test_the_scan_sees_a_rename(source: str, bad: bool) -> None:
    assert bool(offenders(source, "x.py")) is bad
