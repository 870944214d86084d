"""``split: subset``: the source's own split (the images' CVAT subsets) is kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .helpers import box_image, cvat_xml, make_dataset


def _run(tmp_path: Path, subsets: list[str | None], split: str = "subset",
         n_files: int | None = None) -> tuple[dict, list[str]]:
    import dataset

    imgs = [box_image(i, f"user/7/{i}.png", ("weed", "crop")[i % 2], subset=sub or "")
            .replace(' subset=""', "") for i, sub in enumerate(subsets)]
    make_dataset(tmp_path / "minio", 7, n_files or len(subsets), xml=cvat_xml(imgs))
    lines: list[str] = []
    dataset.prepare("detection", {"train-split": 0.5, "test-split": 0.5, "split": split},
                    dataset_id="7", minio=tmp_path / "minio", datasets=tmp_path / "datasets",
                    log=lines.append)
    manifest = json.loads((tmp_path / "datasets/split_manifest.json").read_text())
    return {s["file_name"]: s["split"] for s in manifest["samples"]}, lines


def test_subsets_decide_the_split_case_insensitively(tmp_path: Path) -> None:
    subsets = ["Train", "train", " TRAINING ", "Validation", "val", "Test", "testing", "Train"]
    got, lines = _run(tmp_path, subsets)
    assert got == {f"{i}.png": ("val" if i in (3, 4, 5, 6) else "train") for i in range(8)}
    assert "split: subset: 8 samples by their subset" in lines
    coco = json.loads((tmp_path / "datasets/labels/val/labels.json").read_text())
    assert sorted(i["file_name"] for i in coco["images"]) == ["3.png", "4.png", "5.png", "6.png"]
    assert any("subset split" in line for line in lines)


def test_samples_without_a_subset_are_split_at_random_and_counted(tmp_path: Path) -> None:
    # 4 by subset; 4 annotated without one or with an unknown one, and 2 files not in the XML
    subsets = ["Train", "Validation", "Train", "Validation", None, "default", None, "", ]
    got, lines = _run(tmp_path, subsets, n_files=10)
    assert [got[f"{i}.png"] for i in range(4)] == ["train", "val", "train", "val"]
    rest = [got[f"{i}.png"] for i in range(4, 10)]
    assert sorted(rest) == ["train"] * 3 + ["val"] * 3  # 0.5 / 0.5 of the 6 others
    assert ("split: subset: 4 samples by their subset, 6 without a train/validation/test "
            "subset split at random (0.5/0.5)") in lines
    manifest = json.loads((tmp_path / "datasets/split_manifest.json").read_text())
    assert manifest["split"] == "subset"
    assert manifest["warnings"]["samples without a train/validation/test subset (split at "
                                "random)"] == 6


def test_no_subset_at_all_is_one_clear_error(tmp_path: Path) -> None:
    import dataset

    with pytest.raises(dataset.DatasetError, match=r"split: subset, but no image of "
                       r"annotations.xml has a train/validation/test subset \(found: "
                       r"'default'\); set split to random"):
        _run(tmp_path, ["default", None, "default"])
    assert not (tmp_path / "datasets/split_manifest.json").exists()


def test_random_is_the_default_and_ignores_subsets(tmp_path: Path) -> None:
    got, lines = _run(tmp_path, ["Train"] * 8, split="random")
    assert sorted(got.values()) == ["train"] * 4 + ["val"] * 4
    assert not any(line.startswith("split: subset") for line in lines)


def test_an_unknown_split_mode_is_refused(tmp_path: Path) -> None:
    import dataset

    with pytest.raises(dataset.DatasetError, match="split: 'source' is not one of random, subset"):
        _run(tmp_path, ["Train"], split="source")


def test_split_is_left_to_setup_not_passed_to_train_py() -> None:
    import config_to_args

    argv = config_to_args.config_to_argv({"epochs": 2, "split": "subset", "train-split": 0.8})
    assert argv == ["--epochs", "2"]
