"""tcli.safety: path confinement, atomic writes, the store lock."""

from __future__ import annotations

import multiprocessing
import os
import stat
import time
from pathlib import Path

import pytest

from tcli.errors import InputError
from tcli.safety import atomic, lock
from tcli.safety.confine import (
    PathEscape,
    clean_member_name,
    confine,
    is_absolute_name,
    is_inside,
    resolve,
)
from tests.waits import wait_until


def test_confine_accepts_inside_and_refuses_dotdot_absolute_symlink(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    (root / "a").mkdir(parents=True)
    (root / "a" / "f.txt").write_text("x")
    outside = tmp_path / "secret"
    outside.mkdir()
    (root / "link").symlink_to(outside)
    (root / "inner").symlink_to(root / "a")
    assert confine(root, "a/f.txt", must_exist=True) == (root / "a" / "f.txt").resolve()
    assert confine(root, "inner/f.txt") == (root / "a" / "f.txt").resolve()
    for bad in ("../secret", "a/../../secret", "/etc/passwd", "link", "link/x"):
        with pytest.raises(PathEscape, match="outside"):
            confine(root, bad, what="COPY source")
    with pytest.raises(PathEscape, match="NUL"):
        confine(root, "a\x00b")
    with pytest.raises(InputError, match="no such file"):
        confine(root, "a/missing", must_exist=True)
    assert not is_inside(root / "link", root)


def test_confine_symlink_loop_is_an_error_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "l1").symlink_to(tmp_path / "l2")
    (tmp_path / "l2").symlink_to(tmp_path / "l1")
    with pytest.raises(PathEscape):
        confine(tmp_path, "l1/x")


@pytest.mark.parametrize("name", ["/abs", "../x", "a/../../x", "a\\b", "C:x", "", "a//b", "x\x00"])
def test_clean_member_name_refuses(name: str) -> None:
    assert clean_member_name(name) is None


def test_clean_member_name_keeps_relative() -> None:
    assert str(clean_member_name("top/a/b.py")) == "top/a/b.py"


def test_resolve_names_a_loop_and_keeps_a_missing_path(tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(InputError, match=r"^SRC: .*a is a symbolic link loop$"):
        resolve(tmp_path / "a", "SRC")
    assert resolve(tmp_path / "gone", "DEST", missing_ok=True) == tmp_path / "gone"
    with pytest.raises(InputError, match="No such file"):
        resolve(tmp_path / "gone", "DEST")


@pytest.mark.parametrize(("name", "absolute"), [
    ("/etc/passwd", True), ("C:/x", True), ("c:x", True), ("\\\\host\\x", True),
    ("a/b.png", False), ("../b.png", False), ("", False),
])
def test_is_absolute_name(name: str, absolute: bool) -> None:
    assert is_absolute_name(name) is absolute


def test_atomic_check_refuses_before_the_replace(tmp_path: Path) -> None:
    f = tmp_path / "out.zip"
    f.write_bytes(b"old")
    seen: list[bytes] = []

    def check(tmp: Path) -> None:
        seen.append(tmp.read_bytes())
        raise InputError("bad")

    with pytest.raises(InputError, match="bad"), atomic.atomic_open(f, check=check) as fh:
        fh.write(b"new")
    assert seen == [b"new"]
    assert f.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.zip"]


def test_atomic_replace_moves_a_staged_folder_and_replaces_a_link(tmp_path: Path) -> None:
    stage = tmp_path / ".stage"
    stage.mkdir()
    (stage / "f").write_text("x")
    atomic.replace(stage, tmp_path / "dest")
    assert (tmp_path / "dest" / "f").read_text() == "x" and not stage.exists()
    victim = tmp_path / "victim"
    victim.write_text("keep")
    (tmp_path / "link").symlink_to(victim)
    (tmp_path / "new").write_text("new")
    atomic.replace(tmp_path / "new", tmp_path / "link")
    assert victim.read_text() == "keep"
    assert not (tmp_path / "link").is_symlink() and (tmp_path / "link").read_text() == "new"


def test_atomic_write_keeps_mode_and_leaves_no_temp(tmp_path: Path) -> None:
    f = tmp_path / "run.sh"
    f.write_text("old")
    f.chmod(0o750)
    atomic.write_text(f, "new")
    assert f.read_text() == "new"
    assert stat.S_IMODE(f.stat().st_mode) == 0o750
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.sh"]
    atomic.write_bytes(tmp_path / "fresh.bin", b"\x00")
    assert stat.S_IMODE((tmp_path / "fresh.bin").stat().st_mode) == 0o644


def test_atomic_write_failure_keeps_old_file(tmp_path: Path) -> None:
    f = tmp_path / "a.json"
    f.write_text("good")
    with pytest.raises(RuntimeError), atomic.atomic_open(f) as fh:
        fh.write(b"half")
        raise RuntimeError("interrupted")
    assert f.read_text() == "good"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_atomic_write_errors_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a folder"):
        atomic.write_text(tmp_path, "x")
    with pytest.raises(InputError, match="cannot write"):
        atomic.write_text(tmp_path / "missing" / "x", "x")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.access(ro, os.W_OK):  # root: permissions do not bind; a file as parent does
            (tmp_path / "file").write_text("")
            with pytest.raises(InputError, match=r"not a directory|cannot write"):
                atomic.write_text(tmp_path / "file" / "x", "x")
        else:
            with pytest.raises(InputError, match="Permission denied"):
                atomic.write_text(ro / "x", "x")
    finally:
        ro.chmod(0o700)


def _hold(lock_file: str, started: str, seconds: float) -> None:
    with lock.locked(Path(lock_file)):
        Path(started).write_text("1")
        time.sleep(seconds)


def test_lock_excludes_a_second_process(tmp_path: Path) -> None:
    lf, started = tmp_path / "store.lock", tmp_path / "started"
    # the holder keeps the lock until the test kills it (600 s: never reached)
    p = multiprocessing.get_context("fork").Process(target=_hold, args=(str(lf), str(started), 600))
    p.start()
    try:
        wait_until(lambda: started.exists() or not p.is_alive(), "the holder took the lock")
        assert p.is_alive(), "the lock holder died before taking the lock"
        with pytest.raises(lock.LockBusy, match="another tc"), lock.locked(lf, timeout_s=0.2):
            pass
    finally:
        p.kill()
        p.join()
    with lock.locked(lf, timeout_s=5):  # released by the kernel when the holder died
        pass


def test_lock_on_unusable_home_is_input_error(tmp_path: Path) -> None:
    (tmp_path / "home").write_text("a file, not a folder")
    with pytest.raises(InputError, match="cannot create the lock") as exc, \
            lock.locked(tmp_path / "home" / "x.lock"):
        pass
    assert "TC_HOME" in (exc.value.hint or "")
