"""Hostile input to the ops features (issue 28): ``tc export`` option values, ``tc update
--undo`` / ``--dry-run``, ``tc dev-run``'s mock MinIO, ``tc validate --zip``, ``.env`` secrets,
the scaffold store and ``tc base-image``; and the exit-70 hunt over those commands."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hostile.conftest import Guard
from tests.hostile.harness import assert_clean_failure, env_for, tc

Env = dict[str, str]
IMAGE = "registry.example.com/team/cls:1"


# ---- class: option values with a trailing newline (or other junk) -> exit 2, nothing written ----

@pytest.mark.parametrize(("option", "value"), [
    ("--dataset-id", "42\n"),
    ("--name", "job\n"),
    ("--secret", "tc-s3\n"),
    ("--namespace", "team\n"),
    ("--output-pvc", "claim\n"),
    ("--cpu", "8\n"),
    ("--memory", "32Gi\n"),
    ("--shm-size", "8Gi\n"),
])
def test_export_option_with_a_trailing_newline(proj: Path, guard: Guard, env: Env, option: str,
                                               value: str) -> None:
    args = {"--dataset-id": "42", option: value}
    out = proj.parent / "job.yaml"
    guard.start()
    r = tc("export", "--image", IMAGE, *[x for kv in args.items() for x in kv], "-o", out,
           cwd=proj, env=env)
    guard.check()
    assert not out.exists()
    assert_clean_failure(r, 2, rf"^error: {option} '.*\\n' is not ")


def test_export_to_an_unwritable_place(proj: Path, guard: Guard, env: Env) -> None:
    guard.start()
    r = tc("export", "--image", IMAGE, "--dataset-id", "42", "-o", "/proc/tc-job.yaml", cwd=proj,
           env=env)
    guard.check()
    assert_clean_failure(r, 2, r"/proc/tc-job\.yaml: cannot write")


# ---- class: dev-run's mock MinIO replaces only what tc made (item 7) -------------------------
# DOCKER_HOST points nowhere: each refusal must come before any Docker work.

def _no_docker(tmp_path: Path) -> Env:
    return env_for(tmp_path, DOCKER_HOST="unix:///nonexistent/tc-hostile.sock")


def _user_dataset(folder: Path) -> None:
    (folder / "annotations").mkdir(parents=True)
    (folder / "annotations" / "annotations.xml").write_text("<annotations>mine</annotations>\n")
    (folder / "field_0001.jpg").write_bytes(b"\xff\xd8 my photo")


@pytest.mark.parametrize("source", ["--demo", "--dataset"])
def test_dev_run_keeps_a_users_dataset_in_the_mock_minio(proj: Path, guard: Guard, tmp_path: Path,
                                                         source: str) -> None:
    _user_dataset(proj / ".tc" / "minio" / "datasets" / "1")
    other = tmp_path / "other"
    _user_dataset(other)
    args = ["--demo"] if source == "--demo" else ["--dataset", str(other)]
    guard.start()
    r = tc("dev-run", str(proj), *args, cwd=tmp_path, env=_no_docker(tmp_path))
    guard.check()
    assert_clean_failure(r, 2, r"datasets/1/.*: not made by tc, or changed since; nothing was "
                               r"deleted")
    assert "--dataset DIR" in r.stderr


def test_dev_run_keeps_a_demo_dataset_the_user_edited(proj: Path, guard: Guard,
                                                      tmp_path: Path) -> None:
    r = tc("demo-data", proj / ".tc" / "minio", "--task", "classification", "--images", "3",
           cwd=tmp_path, env=_no_docker(tmp_path))
    assert r.rc == 0, r.stderr
    ann = proj / ".tc" / "minio" / "datasets" / "1" / "annotations" / "annotations.xml"
    ann.write_text(ann.read_text().replace("circle", "rock"))
    guard.start()
    r = tc("dev-run", str(proj), "--demo", cwd=tmp_path, env=_no_docker(tmp_path))
    guard.check()
    assert_clean_failure(r, 2, r"annotations\.xml: not made by tc, or changed since")


@pytest.mark.parametrize("link", [".tc", ".tc/minio", ".tc/minio/datasets", ".tc/minio/datasets/1"])
def test_dev_run_never_follows_a_link_out_of_the_project(proj: Path, guard: Guard, tmp_path: Path,
                                                         link: str) -> None:
    outside = tmp_path / "outside"
    below = {".tc": "minio/datasets/1", ".tc/minio": "datasets/1", ".tc/minio/datasets": "1",
             ".tc/minio/datasets/1": ""}[link]
    _user_dataset(outside / below if below else outside)
    (proj / link).parent.mkdir(parents=True, exist_ok=True)
    (proj / link).symlink_to(outside, target_is_directory=True)
    guard.start()
    r = tc("dev-run", str(proj), "--demo", cwd=tmp_path, env=_no_docker(tmp_path))
    guard.check()
    assert_clean_failure(r, 2, r"a symlink to .*outside, outside the project; nothing was "
                               r"written or deleted")


def test_demo_data_keeps_an_edited_demo_annotation(tmp_path: Path, guard: Guard) -> None:
    r = tc("demo-data", tmp_path / "minio", "--task", "detection", "--images", "3", cwd=tmp_path)
    assert r.rc == 0, r.stderr
    ann = tmp_path / "minio" / "datasets" / "1" / "annotations" / "annotations.xml"
    ann.write_text(ann.read_text().replace('xtl="', 'xtl="1'))  # the user's corrected boxes
    guard.start()
    r = tc("demo-data", tmp_path / "minio", "--task", "detection", "--images", "3", cwd=tmp_path)
    guard.check()
    assert_clean_failure(r, 2, r"annotations\.xml: not written by tc demo-data \(or changed since\)")
