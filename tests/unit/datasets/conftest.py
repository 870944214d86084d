"""The runtime's dataset stage (scaffolds/project/common/dataset.py) importable, as in
tests/unit/runtime."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def _runtime_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    for d in ("common", "datasets"):
        monkeypatch.syspath_prepend(str(REPO / "scaffolds" / "project" / d))


def run_prepare(minio: Path, ds_id: int, out: Path, task: str) -> dict[str, Any]:
    """dataset.prepare on the imported dataset; returns categories (names, in id order) and
    the annotations per source path (via annotations/mapping.json)."""
    import dataset

    dataset.prepare(task, {"train-split": 0.5, "test-split": 0.5}, dataset_id=str(ds_id),
                    minio=minio, datasets=out, formats=["coco"], log=lambda _m: None)
    mapping = json.loads((minio / "datasets" / str(ds_id) / "annotations" / "mapping.json")
                         .read_text())["files"]
    cats: list[str] | None = None
    per: dict[str, list[dict[str, Any]]] = {}
    sizes: dict[str, tuple[int, int]] = {}
    for split in ("train", "val"):
        doc = json.loads((out / "labels" / split / "labels.json").read_text())
        names = [c["name"] for c in sorted(doc["categories"], key=lambda c: c["id"])]
        assert cats is None or cats == names
        cats = names
        by_id = {im["id"]: mapping[im["file_name"]] for im in doc["images"]}
        for im in doc["images"]:
            per.setdefault(mapping[im["file_name"]], [])
            sizes[mapping[im["file_name"]]] = (im["width"], im["height"])
        for a in doc["annotations"]:
            a["category"] = names[a["category_id"] - 1]
            per[by_id[a["image_id"]]].append(a)
    return {"categories": cats, "per_image": per, "sizes": sizes}
