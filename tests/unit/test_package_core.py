"""tc package core: layout, reproducibility, refusals, atomic writes, --verify."""

from __future__ import annotations

import hashlib
import os
import stat
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tcli import units
from tcli.errors import InputError
from tcli.packaging import archive
from tcli.packaging import plan as pkg_plan
from tcli.packaging import verify as pkg_verify
from tcli.project import Project
from tests.validate_helpers import KEY, tdir

TOP = "train-container-publish"
PREFIX = f"{TOP}/{KEY}"


@pytest.fixture()
def proj(new_project: Callable[..., Path]) -> Path:
    return new_project("classification", name="proj")


def build(proj: Path, out: Path, **kw: int) -> archive.Packaged:
    project = Project.load(proj)
    plan = pkg_plan.plan(project, project.select(KEY), **kw)
    assert plan.refusals == []
    return archive.write_zip(plan.entries, out)


def test_layout_matches_the_contract(proj: Path, tmp_path: Path) -> None:
    (tdir(proj) / "docker" / "__pycache__").mkdir()
    (tdir(proj) / "docker" / "__pycache__" / "train.cpython-311.pyc").write_bytes(b"\0")
    (tdir(proj) / "minio" / "datasets").mkdir(parents=True)
    (tdir(proj) / "docker" / "export.jsonschema").write_text("{}")
    written = build(proj, tmp_path / "out.zip")
    with zipfile.ZipFile(written.path) as zf:
        names = zf.namelist()
    files = [n for n in names if not n.endswith("/")]
    assert names == sorted(names)
    assert {n.split("/")[0] for n in names} == {TOP}
    top = sorted(n[len(TOP) + 1:] for n in files if n.count("/") == 1)
    assert top == ["config.py", "config_to_args.py", "cvat_dataset.py", "cvat_masks.py",
                   "cvat_model.py", "cvat_parallel.py", "cvat_xml.py", "cvat_xmlsafe.py",
                   "dataset.py", "dataset_base.py", "dataset_coco.py", "dataset_files.py",
                   "dataset_labels.py", "dataset_link_worker.py", "dataset_split.py",
                   "dataset_trash_worker.py", "docker-entrypoint.sh", "failure.py", "mount-s3.sh",
                   "sts_credentials.py", "torchrun_launcher.py"]
    tpl = {n[len(PREFIX) + 1:] for n in files if n.startswith(PREFIX + "/")}
    assert {"config/config.jsonschema", "config/custom.json", "config/presets.json",
            "docker/Dockerfile", "docker/setup.py", "docker/train.py", "docker/args.py",
            "docker/requirements.txt", "docker/.env", "docker/tc_export.py"} <= tpl
    assert not {"config/train_config.json", "docker/export.jsonschema"} & tpl
    assert all(not p.startswith(("minio", "train/")) and "__pycache__" not in p for p in tpl)
    assert len(files) == written.file_count == len(top) + len(tpl)
    # every file of the template's config/ and docker/ except the dev-only ones
    on_disk = {p.relative_to(tdir(proj)).as_posix() for p in tdir(proj).rglob("*")
               if p.is_file() and p.parts[-2] in ("config", "docker")}
    assert tpl == on_disk - {"config/train_config.json", "docker/export.jsonschema"}


def test_permissions_and_timestamps_are_fixed(proj: Path, tmp_path: Path) -> None:
    written = build(proj, tmp_path / "out.zip")
    with zipfile.ZipFile(written.path) as zf:
        for info in zf.infolist():
            mode = info.external_attr >> 16
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            if info.is_dir():
                assert stat.S_IMODE(mode) == 0o755 and stat.S_ISDIR(mode)
            elif info.filename.endswith(".sh"):
                assert stat.S_IMODE(mode) == 0o755
            else:
                assert stat.S_IMODE(mode) == 0o644


def test_same_sources_same_bytes(proj: Path, tmp_path: Path) -> None:
    first = build(proj, tmp_path / "a.zip")
    for p in proj.rglob("*"):
        if p.is_file():
            os.utime(p, (1_700_000_000, 1_700_000_000))
    (tdir(proj) / "docker" / "train.py").chmod(0o600)
    second = build(proj, tmp_path / "b.zip")
    assert first.sha256 == second.sha256
    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.sha256 == hashlib.sha256(first.path.read_bytes()).hexdigest()
    (tdir(proj) / "docker" / "train.py").write_text("print('changed')\n")
    assert build(proj, tmp_path / "c.zip").sha256 != first.sha256


def refusals(proj: Path, **kw: int) -> list[tuple[str, str]]:
    project = Project.load(proj)
    plan = pkg_plan.plan(project, project.select(KEY), **kw)
    return [(r.code, r.path.relative_to(proj).as_posix()) for r in plan.refusals]


def test_refuses_symlink_escaping_project(proj: Path, tmp_path: Path) -> None:
    (tmp_path / "outside.txt").write_text("x")
    (tdir(proj) / "docker" / "link.txt").symlink_to(tmp_path / "outside.txt")
    assert refusals(proj) == [("package.symlink-escape", f"templates/{KEY}/docker/link.txt")]


def test_symlink_inside_project_is_stored_as_file(proj: Path, tmp_path: Path) -> None:
    (tdir(proj) / "docker" / "labels.txt").symlink_to(tdir(proj) / "config" / "presets.json")
    written = build(proj, tmp_path / "out.zip")
    with zipfile.ZipFile(written.path) as zf:
        data = zf.read(f"{PREFIX}/docker/labels.txt")
    assert data == (tdir(proj) / "config" / "presets.json").read_bytes()


def test_refuses_oversize_and_data_files(proj: Path) -> None:
    with (tdir(proj) / "docker" / "table.bin").open("wb") as fh:
        fh.truncate(10 * 1000 * 1000 + 1)
    (tdir(proj) / "docker" / "model.onnx").write_bytes(b"\0")
    (tdir(proj) / "docker" / "sample.jpg").write_bytes(b"\0")
    assert refusals(proj) == [
        ("package.data-file", f"templates/{KEY}/docker/model.onnx"),
        ("package.data-file", f"templates/{KEY}/docker/sample.jpg"),
        ("package.oversize", f"templates/{KEY}/docker/table.bin"),
    ]


def test_refuses_env_secret(proj: Path) -> None:
    env = tdir(proj) / "docker" / ".env"
    env.write_text(env.read_text() + "HF_TOKEN=hf_abcdefghijklmnopqrstuvwxyz0123456789\n")
    assert refusals(proj) == [("env.secret", f"templates/{KEY}/docker/.env")]


def test_failed_write_keeps_previous_zip(proj: Path, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "dist" / "train-container-publish.zip"
    first = build(proj, out)
    before = out.read_bytes()
    (tdir(proj) / "docker" / "train.py").write_text("print('new')\n")
    calls = {"n": 0}
    real = zipfile.ZipFile.writestr

    def flaky(self: zipfile.ZipFile, *a: object, **kw: object) -> None:
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        real(self, *a, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(zipfile.ZipFile, "writestr", flaky)
    with pytest.raises(KeyboardInterrupt):
        build(proj, out)
    assert out.read_bytes() == before
    assert hashlib.sha256(before).hexdigest() == first.sha256
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]


def test_output_path_rules(proj: Path, tmp_path: Path) -> None:
    project = Project.load(proj)
    ref = project.select(KEY)
    assert archive.output_path(project, ref, None, False) == \
        proj.resolve() / "dist" / "train-container-publish.zip"
    assert archive.output_path(project, ref, tmp_path / "x.zip", False) == tmp_path / "x.zip"
    assert archive.output_path(project, ref, tmp_path / "out", False) == \
        tmp_path / "out" / "train-container-publish.zip"
    assert archive.output_path(project, ref, tmp_path, True) == \
        tmp_path / "Prov" / "Cat" / "Arch" / "train-container-publish.zip"


@pytest.mark.parametrize(("text", "value"), [
    ("10MB", 10_000_000), ("500kB", 500_000), ("2MiB", 2 * 1024 * 1024), ("123", 123),
    ("1.5GB", 1_500_000_000),
])
def test_parse_size(text: str, value: int) -> None:
    assert units.parse_size(text) == value


def test_parse_size_rejects_garbage() -> None:
    with pytest.raises(InputError):
        units.parse_size("ten megabytes")


def test_verify_passes_on_a_fresh_zip(proj: Path, tmp_path: Path) -> None:
    written = build(proj, tmp_path / "out.zip")
    report, result = pkg_verify.verify(written.path, Project.load(proj))
    assert report.errors == []
    assert result is not None and result.problems == []
    assert {"Dockerfile", "train.py", "train_config.json", "export.py", "presets.json",
            "docker-entrypoint.sh", ".env"} <= set(result.build_files)


def test_verify_finds_missing_copy_source(proj: Path, tmp_path: Path) -> None:
    dockerfile = tdir(proj) / "docker" / "Dockerfile"
    text = dockerfile.read_text()
    dockerfile.write_text(text + "COPY weights/ labels.txt /workspace/\n")
    written = build(proj, tmp_path / "out.zip")
    report, result = pkg_verify.verify(written.path, Project.load(proj))
    assert result is not None and len(result.problems) == 2
    line = len(text.splitlines()) + 1
    assert [(f.code, f.line, f.message) for f in report.errors] == [
        ("verify.copy-missing", line, "COPY weights/: no such file in the build directory"),
        ("verify.copy-missing", line, "COPY labels.txt: no such file in the build directory"),
    ]


def test_copy_problems_with_globs(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(
        "FROM x\nCOPY *.py /w/\nCOPY --from=build /a /b\nCOPY [\"*.yaml\", \"/w/\"]\n"
        "ADD https://example.com/x /x\n")
    (tmp_path / "a.py").write_text("")
    count, problems = pkg_verify.copy_problems(tmp_path)
    assert problems == [(4, "COPY *.yaml: matches no file in the build directory")]
    assert count == 2


def test_an_empty_glob_beside_a_matching_source_is_optional(tmp_path: Path) -> None:
    """Docker fails a COPY only when none of its sources matches (weights.loc[k], weights-*)."""
    (tmp_path / "Dockerfile").write_text(
        "FROM x\nCOPY a.py weights.loc[k] weights-* /o/\nCOPY weights-* none.loc[k] /o/\n")
    (tmp_path / "a.py").write_text("")
    count, problems = pkg_verify.copy_problems(tmp_path)
    assert problems == [(3, "COPY weights-*: matches no file in the build directory"),
                        (3, "COPY none.loc[k]: matches no file in the build directory")]
    assert count == 5
