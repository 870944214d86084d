"""Hostile input to ``tc demo-data``: never overwrite or delete what the user made."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hostile.conftest import Guard
from tests.hostile.harness import assert_clean_failure, tc


def test_user_annotations_are_not_overwritten(tmp_path: Path, guard: Guard) -> None:
    ann = tmp_path / "minio" / "datasets" / "1" / "annotations"
    ann.mkdir(parents=True)
    (ann / "annotations.xml").write_text("<annotations>my own work</annotations>\n")
    guard.start()
    r = tc("demo-data", str(tmp_path / "minio"), "--task", "classification", "-n", "4", cwd=tmp_path)
    guard.check()
    assert_clean_failure(r, 2, r"annotations\.xml|datasets/1|not empty")


def test_user_files_named_like_demo_images_are_kept(tmp_path: Path, guard: Guard) -> None:
    ds = tmp_path / "minio" / "datasets" / "1"
    ds.mkdir(parents=True)
    (ds / "demo_0099.png").write_bytes(b"my photo")
    (ds / "demo_0000.png").write_bytes(b"my other photo")
    guard.start()
    r = tc("demo-data", str(tmp_path / "minio"), "--task", "detection", "-n", "4", cwd=tmp_path)
    guard.check()
    assert_clean_failure(r, 2, r"datasets/1|demo_")


@pytest.mark.parametrize("dataset_id", ["99999999999999999999", "-1", "abc", "1.5"])
def test_out_of_range_dataset_id(tmp_path: Path, guard: Guard, dataset_id: str) -> None:
    guard.start()
    r = tc("demo-data", str(tmp_path / "minio"), "--task", "classification", "-n", "2",
           "--dataset-id", dataset_id, cwd=tmp_path)
    guard.check()
    assert_clean_failure(r, 2, r"dataset-id|dataset_id|DATASET")


@pytest.mark.parametrize("images", ["0", "-3", "100001", "lots"])
def test_bad_image_counts(tmp_path: Path, guard: Guard, images: str) -> None:
    guard.start()
    r = tc("demo-data", str(tmp_path / "minio"), "--task", "classification", "-n", images, cwd=tmp_path)
    guard.check()
    assert_clean_failure(r, 2, r"images|-n")


@pytest.mark.parametrize("task", ["", "Classification\n", "../x", "regression"])
def test_bad_task(tmp_path: Path, guard: Guard, task: str) -> None:
    guard.start()
    r = tc("demo-data", str(tmp_path / "minio"), "--task", task, cwd=tmp_path)
    guard.check()
    assert_clean_failure(r, 2, r"task")


def test_target_is_a_file(tmp_path: Path, guard: Guard) -> None:
    (tmp_path / "minio").write_text("a file")
    guard.start()
    r = tc("demo-data", str(tmp_path / "minio"), "--task", "classification", "-n", "2", cwd=tmp_path)
    guard.check()
    assert_clean_failure(r, 2, r"minio")
