"""tcli.safety.made: a folder is replaced only when everything in it is what tc recorded."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tcli.safety import made
from tests.unit.test_devrun import make_project


def _fill(folder: Path, source: Path) -> None:
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "a.txt").write_text("tc wrote this")
    os.link(source, folder / "hard.png")
    os.symlink("/tc-sources/1/x.png", folder / "soft.png")
    made.write(folder, {"sub/a.txt": made.entry_of(folder / "sub" / "a.txt"),
                        "hard.png": made.entry_of(folder / "hard.png", hardlink=True),
                        "soft.png": made.entry_of(folder / "soft.png")}, what="test")


def test_clear_removes_what_tc_made_and_keeps_the_users_source(tmp_path: Path) -> None:
    source = tmp_path / "mine.png"
    source.write_bytes(b"user data")
    _fill(tmp_path / "d", source)
    made.clear(tmp_path / "d", fix="x")
    assert not (tmp_path / "d").exists() and source.read_bytes() == b"user data"


@pytest.mark.parametrize("change", ["edit", "extra", "relink", "replace-hardlink", "no-manifest"])
def test_clear_refuses_anything_else(tmp_path: Path, change: str) -> None:
    source = tmp_path / "mine.png"
    source.write_bytes(b"user data")
    d = tmp_path / "d"
    _fill(d, source)
    if change == "edit":
        (d / "sub" / "a.txt").write_text("the user's edit")
    elif change == "extra":
        (d / "sub" / "notes.txt").write_text("mine")
    elif change == "relink":
        (d / "soft.png").unlink()
        os.symlink("/elsewhere", d / "soft.png")
    elif change == "replace-hardlink":
        (d / "hard.png").unlink()
        (d / "hard.png").write_bytes(b"user data")  # same bytes, but the user's own file now
    else:
        (d / made.MANIFEST).unlink()
    before = sorted(p.relative_to(d).as_posix() for p in d.rglob("*"))
    with pytest.raises(made.NotMadeByTc, match="nothing was deleted"):
        made.clear(d, fix="x")
    assert sorted(p.relative_to(d).as_posix() for p in d.rglob("*")) == before


def test_a_forged_manifest_entry_leaving_the_folder_is_not_tcs(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    (d / made.MANIFEST).write_text('{"format": 1, "made_by": "tc", "what": "x", '
                                   '"files": {"../outside": "sha256:00"}}')
    assert made.load(d) is None


def test_demo_dataset_twice_replaces_its_own_files(tmp_path: Path) -> None:
    from tcli.devrun import minio

    project = make_project(tmp_path / "p")
    first = minio.demo_dataset(project, "classification", 1, images=4)
    again = minio.demo_dataset(project, "classification", 1, images=3)
    assert first.path == again.path and again.samples == 3
    assert sorted(p.name for p in again.path.glob("*.png")) == [f"demo_{i:04d}.png" for i in range(3)]


def test_a_tc_symlink_out_of_the_project_is_refused(tmp_path: Path) -> None:
    from tcli.errors import InputError

    project = make_project(tmp_path / "p")
    (tmp_path / "elsewhere").mkdir()
    (project.root / ".tc").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(InputError, match="outside the project"):
        project.tc_path("minio")
