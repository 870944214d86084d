"""tc package through the CLI: output lines, refusals, --no-validate, --all, --verify."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tcli.cli import app
from tests.validate_helpers import KEY, tdir

runner = CliRunner()


@pytest.fixture()
def proj(new_project: Callable[..., Path]) -> Path:
    return new_project("classification", name="proj")


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["package", *args])


def test_package_prints_sha_size_and_count(proj: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.zip"
    result = invoke(str(proj), "-o", str(out))
    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    with zipfile.ZipFile(out) as zf:
        count = sum(1 for n in zf.namelist() if not n.endswith("/"))
    assert result.stdout == (
        f"packaged {KEY} -> {out}\n"
        f"  sha256 {hashlib.sha256(data).hexdigest()}\n"
        f"  size   {len(data)} bytes\n"
        f"  files  {count}\n"
    )


def test_default_output_is_dist(proj: Path) -> None:
    assert invoke(str(proj)).exit_code == 0
    assert (proj / "dist" / "train-container-publish.zip").is_file()


def test_refuses_on_validation_errors_and_writes_nothing(proj: Path, tmp_path: Path) -> None:
    env = tdir(proj) / "docker" / ".env"
    env.write_text(env.read_text() + "DATASET_ID=3\n")
    out = tmp_path / "out.zip"
    result = invoke(str(proj), "-o", str(out))
    assert result.exit_code == 1
    assert "env.dataset-id" not in result.stdout and "DATASET_ID must not be set" in result.stdout
    assert result.stderr == (
        "error: tc validate found 1 error; nothing was packaged\n"
        "hint: fix them (see the table), or pass --no-validate to package anyway\n")
    assert not out.exists()


def test_no_validate_packages_loudly(proj: Path, tmp_path: Path) -> None:
    env = tdir(proj) / "docker" / ".env"
    env.write_text(env.read_text() + "DATASET_ID=3\n")
    out = tmp_path / "out.zip"
    result = invoke(str(proj), "-o", str(out), "--no-validate")
    assert result.exit_code == 0
    assert result.stderr.startswith("warning: --no-validate: packaging WITHOUT validation")
    assert out.is_file()


def test_refusals_name_the_file_even_without_validation(proj: Path, tmp_path: Path) -> None:
    (tdir(proj) / "docker" / "best.pt").write_bytes(b"\0")
    out = tmp_path / "out.zip"
    result = invoke(str(proj), "-o", str(out), "--no-validate")
    assert result.exit_code == 1
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith(f"error: refused to package templates/{KEY}/docker/best.pt: model file")
    assert errors[0].endswith("; nothing was written")
    assert not out.exists()


def test_oversize_limit_is_configurable(proj: Path, tmp_path: Path) -> None:
    with (tdir(proj) / "docker" / "table.bin").open("wb") as fh:
        fh.truncate(2_000_000)
    assert invoke(str(proj), "-o", str(tmp_path / "a.zip"), "--max-file-size", "1MB") \
        .exit_code == 1
    assert invoke(str(proj), "-o", str(tmp_path / "b.zip"), "--max-file-size", "3MB") \
        .exit_code == 0


def add_second_template(proj: Path) -> str:
    shutil.copytree(tdir(proj), proj / "templates" / "Other" / "Cat" / "Net")
    return "Other/Cat/Net"


def test_several_templates_need_a_choice(proj: Path, tmp_path: Path) -> None:
    other = add_second_template(proj)
    result = invoke(str(proj), "-o", str(tmp_path / "x.zip"))
    assert result.exit_code == 2
    assert "project holds several templates" in result.stderr
    result = invoke(str(proj), "-o", str(tmp_path / "x.zip"), "--template", other)
    assert result.exit_code == 0
    with zipfile.ZipFile(tmp_path / "x.zip") as zf:
        assert {n.split("/")[1] for n in zf.namelist() if n.count("/") > 1} == {"Other"}


def test_all_writes_one_zip_per_template(proj: Path, tmp_path: Path) -> None:
    add_second_template(proj)
    result = invoke(str(proj), "--all", "-o", str(tmp_path / "dist"))
    assert result.exit_code == 0, result.output
    zips = sorted(p.relative_to(tmp_path / "dist").as_posix()
                  for p in (tmp_path / "dist").rglob("*.zip"))
    assert zips == ["Other/Cat/Net/train-container-publish.zip",
                    f"{KEY}/train-container-publish.zip"]


def test_verify_passes(proj: Path, tmp_path: Path) -> None:
    result = invoke(str(proj), "-o", str(tmp_path / "x.zip"), "--verify")
    assert result.exit_code == 0, result.output
    assert re.search(r"verified: member names safe, ZIP validates, build directory of \d+ "
                     r"files holds every COPY source \(\d+\)", result.stdout)


def test_verify_fails_on_missing_copy_source(proj: Path, tmp_path: Path) -> None:
    dockerfile = tdir(proj) / "docker" / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "COPY vocab.txt /workspace/\n")
    result = invoke(str(proj), "-o", str(tmp_path / "x.zip"), "--verify")
    assert result.exit_code == 1
    assert "COPY vocab.txt: no such file in the build directory" in result.stdout
    assert "--verify:" in result.stderr


def test_validate_json_of_packaged_zip(proj: Path, tmp_path: Path) -> None:
    out = tmp_path / "x.zip"
    assert invoke(str(proj), "-o", str(out)).exit_code == 0
    result = runner.invoke(app, ["validate", "--zip", str(out), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["targets"] == [{"kind": "zip", "path": str(out), "templates": [KEY]}]
