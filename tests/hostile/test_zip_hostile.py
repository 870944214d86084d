"""Untrusted uploads under ``tc validate --zip``: bombs, path tricks, links, floods."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from tests.hostile.conftest import Guard
from tests.hostile.harness import assert_clean_failure, tc

TOP = "train-container-publish"
#: Address-space cap for tc on an upload: far below what inflating a bomb into memory needs.
MEM_LIMIT = 1536 * 1024 * 1024
GIB = 1024 * 1024 * 1024


def _with(good: Path, dest: Path, extra: list[tuple[zipfile.ZipInfo | str, bytes]]) -> Path:
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            out.writestr(info, src.read(info))
        for name, data in extra:
            out.writestr(name, data)
    return dest


def _validate_zip(z: Path, guard: Guard, timeout: float = 60):  # type: ignore[no-untyped-def]
    guard.start()
    r = tc("validate", "--zip", str(z), cwd=z.parent, timeout=timeout, mem_limit=MEM_LIMIT)
    guard.check()
    return r


def _lying_bomb(good: Path, dest: Path) -> Path:
    """A member whose headers claim 1000 bytes but which inflates to 2 GiB (streamed, never
    held in this process's memory)."""
    _with(good, dest, [])
    size = 2 * GIB - 1
    with zipfile.ZipFile(dest, "a", zipfile.ZIP_DEFLATED) as zf, \
            zf.open(f"{TOP}/Prov/Cat/Arch/docker/blob.txt", "w", force_zip64=False) as fh:
        chunk = b"\0" * (1 << 24)
        left = size
        while left:
            fh.write(chunk[:min(left, len(chunk))])
            left -= min(left, len(chunk))
    raw = bytearray(dest.read_bytes())
    real = size.to_bytes(4, "little")
    assert raw.count(real) >= 2
    dest.write_bytes(bytes(raw.replace(real, (1000).to_bytes(4, "little"))))
    return dest


def test_zip_bomb_with_lying_header(good_zip: Path, guard: Guard, tmp_path: Path) -> None:
    z = _lying_bomb(good_zip, tmp_path / "bomb.zip")
    r = _validate_zip(z, guard)
    assert r.rc in (1, 2)
    both = r.stdout + r.stderr
    assert "Traceback" not in both and "internal error" not in both
    assert "inflates" in both or "bomb" in both or "larger" in both or "size" in both, both[-1500:]
    assert r.rc != 0


def test_plain_zip_bomb(good_zip: Path, guard: Guard, tmp_path: Path) -> None:
    z = _with(good_zip, tmp_path / "bomb2.zip",
              [(f"{TOP}/Prov/Cat/Arch/docker/data{i}.txt", b"A" * (60 * 1024 * 1024)) for i in range(4)])
    r = _validate_zip(z, guard)
    both = r.stdout + r.stderr
    assert "Traceback" not in both and "internal error" not in both
    assert r.rc != 0 and ("inflates" in both or "MB" in both or "size" in both)


@pytest.mark.parametrize("name", [
    f"{TOP}/../../evil.py", "/etc/cron.d/evil", f"{TOP}/Prov/Cat/Arch/docker/..\\..\\evil.py",
    f"{TOP}//Prov/x.py", "C:/windows/evil.py",
])
def test_unsafe_member_names(good_zip: Path, guard: Guard, tmp_path: Path, name: str) -> None:
    z = _with(good_zip, tmp_path / "names.zip", [(name, b"print('pwned')\n")])
    r = _validate_zip(z, guard)
    both = r.stdout + r.stderr
    assert "Traceback" not in both and "internal error" not in both
    assert r.rc in (1, 2)
    assert not (tmp_path.parent / "evil.py").exists()


def test_symlink_member(good_zip: Path, guard: Guard, tmp_path: Path) -> None:
    info = zipfile.ZipInfo(f"{TOP}/Prov/Cat/Arch/docker/passwd")
    info.create_system = 3
    info.external_attr = 0o120777 << 16
    z = _with(good_zip, tmp_path / "link.zip", [(info, b"/etc/passwd")])
    r = _validate_zip(z, guard)
    both = r.stdout + r.stderr
    assert "Traceback" not in both and "internal error" not in both
    assert r.rc in (1, 2) and "root:x:" not in both


def test_member_flood(good_zip: Path, guard: Guard, tmp_path: Path) -> None:
    z = _with(good_zip, tmp_path / "flood.zip",
              [(f"{TOP}/Prov/Cat/Arch/docker/f{i}.txt", b"") for i in range(5000)])
    r = _validate_zip(z, guard)
    both = r.stdout + r.stderr
    assert "Traceback" not in both and "internal error" not in both
    assert r.rc in (1, 2) and ("members" in both or "files" in both)


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04garbage", b"\x00" * 100])
def test_not_a_zip(guard: Guard, tmp_path: Path, content: bytes) -> None:
    z = tmp_path / "x.zip"
    z.write_bytes(content)
    r = _validate_zip(z, guard)
    assert_clean_failure(r, 2, r"x\.zip")


def test_zip_is_a_device(guard: Guard, tmp_path: Path) -> None:
    guard.start()
    r = tc("validate", "--zip", "/dev/zero", cwd=tmp_path, timeout=120)
    guard.check()
    assert_clean_failure(r, 2, r"/dev/zero")
