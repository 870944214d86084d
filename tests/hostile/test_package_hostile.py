"""Hostile projects under ``tc package``: nothing secret, nothing outside, no ZIP on refusal,
and a failed ``--verify`` keeps the previous good ZIP."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from tests.hostile.conftest import Guard, tdir
from tests.hostile.harness import assert_clean_failure, tc

GHP = "ghp_" + "aB3" * 12
SSH_KEY = ("-----BEGIN " + "OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n"
           "-----END OPENSSH PRIVATE KEY-----\n")
AWS = "[default]\naws_access_key_id = AKIA" + "IOSFODNN7EXAMPLE\naws_secret_access_key = x\n"


def _package(proj: Path, guard: Guard, *extra: str):  # type: ignore[no-untyped-def]
    out = proj.parent / "out.zip"
    guard.start(out)
    r = tc("package", str(proj), "-o", str(out), *extra, cwd=proj.parent)
    guard.check()
    return r, out


def _names(zip_path: Path) -> list[str]:
    with zipfile.ZipFile(zip_path) as zf:
        return zf.namelist()


def test_docker_symlink_to_a_home_folder_packages_nothing(proj: Path, guard: Guard, tmp_path: Path) -> None:
    home = tmp_path / "someone-home"
    (tdir(proj) / "docker").rename(home)
    (home / ".aws").mkdir()
    (home / ".aws" / "credentials").write_text(AWS)
    (home / ".ssh").mkdir()
    (home / ".ssh" / "id_rsa").write_text(SSH_KEY)
    (tdir(proj) / "docker").symlink_to(home)
    r, out = _package(proj, guard)
    assert not out.exists(), f"a ZIP was written: {_names(out)}"
    assert_clean_failure(r, 1, r"validate found|outside the project|nothing was packaged")


@pytest.mark.parametrize("rel, content", [
    ("docker/id_ed25519", SSH_KEY),
    ("docker/id_rsa", SSH_KEY),
    ("docker/credentials", AWS),
    ("docker/.netrc", "machine example.com login me password hunter2\n"),
    ("docker/.bash_history", "export AWS_SECRET_ACCESS_KEY=abc\n"),
    ("docker/.git-credentials", "https://me:" + GHP + "@github.com\n"),
    ("docker/util.py", f'TOKEN = "{GHP}"\n'),
    ("docker/server.pem", SSH_KEY),
    ("docker/.aws/config", AWS),
])
def test_credentials_are_never_packaged(proj: Path, guard: Guard, rel: str, content: str) -> None:
    f = tdir(proj) / rel
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text(content)
    r, out = _package(proj, guard)
    if out.exists():
        leaked = [n for n in _names(out) if n.endswith(rel.split("/", 1)[1])]
        assert not leaked, f"packaged a credential: {leaked}"
    assert_clean_failure(r, 1, r"validate found|secret|credential")


def test_credentials_not_packaged_even_with_no_validate(proj: Path, guard: Guard) -> None:
    (tdir(proj) / "docker" / "id_ed25519").write_text(SSH_KEY)
    r, out = _package(proj, guard, "--no-validate")
    assert not out.exists() or not any(n.endswith("id_ed25519") for n in _names(out))
    assert_clean_failure(r, 1, r"id_ed25519")


def test_failed_verify_keeps_the_previous_good_zip(proj: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.zip"
    r = tc("package", str(proj), "-o", str(out), cwd=tmp_path)
    assert r.rc == 0, r.stderr
    good = out.read_bytes()
    df = tdir(proj) / "docker" / "Dockerfile"
    df.write_text(df.read_text() + "COPY does-not-exist.txt /x\n")
    r = tc("package", str(proj), "-o", str(out), "--verify", "--no-validate", cwd=tmp_path)
    assert r.rc != 0
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr
    assert out.read_bytes() == good, "a failed --verify replaced the previous good ZIP"


@pytest.mark.parametrize("kind", ["dev-full", "file-parent", "dev-null-parent",
                                  "long-name"])
def test_unusable_output_is_exit_2(proj: Path, guard: Guard, tmp_path: Path, kind: str) -> None:
    (tmp_path / "afile").write_text("x")
    target = {"dev-full": Path("/dev/full"), "file-parent": tmp_path / "afile" / "out.zip",
              "dev-null-parent": Path("/dev/null/out.zip"),
              "long-name": tmp_path / ("n" * 300 + ".zip")}[kind]
    guard.start()
    r = tc("package", str(proj), "-o", str(target), cwd=tmp_path)
    guard.check()
    assert_clean_failure(r, 2, r"out|zip|/dev/full|-o")


def test_newline_and_non_utf8_file_names(proj: Path, guard: Guard) -> None:
    d = tdir(proj) / "docker"
    (d / "evil\nname.py").write_text("x = 1\n")
    import os
    os.close(os.open(os.fsencode(d) + b"/bad-\xff.py", os.O_CREAT | os.O_WRONLY, 0o644))
    r, out = _package(proj, guard)
    assert not out.exists()
    assert_clean_failure(r, 1, r"validate found|file name")


@pytest.mark.parametrize("value", ["abc", "-5", "1e999", "10 parsecs", ""])
def test_bad_max_file_size(proj: Path, guard: Guard, value: str) -> None:
    r, out = _package(proj, guard, "--max-file-size", value)
    assert not out.exists()
    assert_clean_failure(r, 2, r"max-file-size")
