"""Imported datasets through a rendered template's own ``setup.py`` (outside Docker, with the
MINIO_ROOT / DATASETS_ROOT / WORKSPACE overrides): the COCO labels it writes equal the source
(COCO source: boxes within 0.01 px, polygon vertices equal, mask pixels equal, categories in
the source's order; YOLO and VOC: boxes; ImageFolder: one class per image)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pycocotools import mask as mask_util

from tcli.buildctx import assemble
from tcli.datasets.importer import import_dataset
from tcli.project import Project
from tests.scaffold.conftest import render_template
from tests.unit.datasets import synth


def _setup(template: str, tmp_path: Path, minio: Path, ds_id: int) -> dict[str, Any]:
    project = Project.load(render_template(tmp_path / f"project-{template}", template))
    ref = project.select(None)
    ws = tmp_path / f"ws-{template}"
    assemble(project, ref, ws)
    out = tmp_path / f"datasets-{template}"
    env = dict(os.environ, WORKSPACE=str(ws), MINIO_ROOT=str(minio), DATASETS_ROOT=str(out),
               TRAIN_ROOT=str(tmp_path / "train"), DATASET_ID=str(ds_id),
               PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run([sys.executable, "setup.py"], cwd=ws, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:]
    mapping = json.loads((minio / "datasets" / str(ds_id) / "annotations" / "mapping.json")
                         .read_text())["files"]
    per: dict[str, list[dict[str, Any]]] = {}
    cats = None
    for split in ("train", "val"):
        doc = json.loads((out / "labels" / split / "labels.json").read_text())
        cats = [c["name"] for c in sorted(doc["categories"], key=lambda c: c["id"])]
        ids = {im["id"]: mapping[im["file_name"]] for im in doc["images"]}
        for rel in ids.values():
            per.setdefault(rel, [])
        for a in doc["annotations"]:
            a["category"] = cats[a["category_id"] - 1]
            per[ids[a["image_id"]]].append(a)
    return {"categories": cats, "per_image": per}


@pytest.mark.slow
def test_coco_through_setup_py(tmp_path: Path) -> None:
    doc = synth.make_coco(tmp_path / "coco")
    minio = tmp_path / "minio"
    import_dataset(tmp_path / "coco", minio, dataset_id=4)
    seg = _setup("segmentation", tmp_path, minio, 4)
    names = {c["id"]: c["name"] for c in doc["categories"]}
    assert seg["categories"] == ["weed", "crop", "stone"]
    for img in doc["images"]:
        got = seg["per_image"]["images/" + img["file_name"]]
        src = [a for a in doc["annotations"] if a["image_id"] == img["id"]]
        box = next(a for a in src if not a["segmentation"])
        poly = next(a for a in src if isinstance(a["segmentation"], list) and a["segmentation"])
        mask = next(a for a in src if isinstance(a["segmentation"], dict))
        got_box = [a for a in got if a["category"] == names[box["category_id"]]
                   and a["iscrowd"] == 0 and len(a["segmentation"][0]) == 8
                   and a["segmentation"][0] != poly["segmentation"][0]]
        assert len(got_box) == 1
        assert all(abs(u - v) <= 0.01 for u, v in zip(got_box[0]["bbox"], box["bbox"], strict=True))
        assert [a["segmentation"] for a in got if a["segmentation"] == poly["segmentation"]]
        got_mask = next(a for a in got if a["iscrowd"] == 1)
        h, w = img["height"], img["width"]
        want = mask_util.decode(mask_util.frPyObjects(mask["segmentation"], h, w)
                                if isinstance(mask["segmentation"]["counts"], list)
                                else mask["segmentation"])
        have = mask_util.decode(mask_util.frPyObjects(got_mask["segmentation"], h, w))
        assert np.array_equal(want, have)


@pytest.mark.slow
def test_yolo_voc_imagefolder_through_setup_py(tmp_path: Path) -> None:
    minio = tmp_path / "minio"
    lines = synth.make_yolo(tmp_path / "yolo")
    import_dataset(tmp_path / "yolo", minio, dataset_id=1)
    voc = synth.make_voc(tmp_path / "voc")
    import_dataset(tmp_path / "voc", minio, dataset_id=2)
    flowers = synth.make_imagefolder(tmp_path / "flowers")
    import_dataset(tmp_path / "flowers", minio, dataset_id=3)

    det = _setup("detection", tmp_path / "y", minio, 1)
    assert det["categories"] == ["weed", "crop"]
    for rel, rows in lines.items():
        boxes = [r for r in rows if len(r.split()) == 5]
        got = [a for a in det["per_image"][rel] if "segmentation" not in a]
        assert len(got) == len(boxes)
        for r, a in zip(boxes, got, strict=True):
            _c, cx, cy, bw, bh = (float(v) for v in r.split())
            want = [(cx - bw / 2) * synth.W, (cy - bh / 2) * synth.H, bw * synth.W, bh * synth.H]
            assert all(abs(u - v) <= 0.01 for u, v in zip(a["bbox"], want, strict=True))

    det = _setup("detection", tmp_path / "v", minio, 2)
    assert det["categories"] == ["cat", "person", "dog"]
    for rel, objs in voc.items():
        got = sorted((a["category"], a["bbox"]) for a in det["per_image"][rel])
        assert got == sorted((n, [b[0], b[1], b[2] - b[0], b[3] - b[1]]) for n, b in objs)

    cls = _setup("classification", tmp_path / "c", minio, 3)
    assert cls["categories"] == ["daisy", "rose", "tulip"]
    for rel, c in flowers.items():
        assert [a["category"] for a in cls["per_image"][rel]] == [c]
