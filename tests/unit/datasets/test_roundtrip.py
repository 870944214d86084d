"""Round trip per format: source -> tc dataset import -> the runtime's dataset.prepare -> COCO
labels equal the source annotations (boxes within 0.01 px, polygon vertices equal, mask
pixels equal, categories in the source's order)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pycocotools import mask as mask_util

from tcli.datasets.importer import import_dataset

from . import synth
from .conftest import run_prepare

TOL = 0.01


def _close(a: list[float], b: list[float]) -> bool:
    return len(a) == len(b) and all(abs(x - y) <= TOL for x, y in zip(a, b, strict=True))


def _rle_pixels(seg: dict[str, Any], h: int, w: int) -> np.ndarray:
    if isinstance(seg["counts"], list):
        seg = mask_util.frPyObjects(seg, h, w)
    return mask_util.decode(seg)


def _boxes(anns: list[dict[str, Any]]) -> list[tuple[str, list[float]]]:
    return sorted((a["category"], a["bbox"]) for a in anns if "segmentation" not in a)


def test_coco_round_trip(tmp_path: Path) -> None:
    src = tmp_path / "coco"
    doc = synth.make_coco(src)
    res = import_dataset(src, tmp_path / "minio")
    assert res.format == "coco" and res.images == 6 and res.renamed == 3
    det = run_prepare(tmp_path / "minio", 1, tmp_path / "det", "detection")
    seg = run_prepare(tmp_path / "minio", 1, tmp_path / "seg", "segmentation")
    assert det["categories"] == [c["name"] for c in doc["categories"]] == ["weed", "crop", "stone"]
    cat_name = {c["id"]: c["name"] for c in doc["categories"]}
    id_to_rel = {im["id"]: "images/" + im["file_name"] for im in doc["images"]}
    assert set(det["per_image"]) == set(id_to_rel.values())
    for img in doc["images"]:
        rel = id_to_rel[img["id"]]
        src_anns = [a for a in doc["annotations"] if a["image_id"] == img["id"]]
        got_det, got_seg = det["per_image"][rel], seg["per_image"][rel]
        # boxes: within 0.01 px, with their attributes (detection also boxes each mask:
        # the box of its set pixels)
        h, w = img["height"], img["width"]
        want_boxes = [a for a in src_anns if not a["segmentation"]]
        want_mask = [a for a in src_anns if isinstance(a["segmentation"], dict)]
        mask_box = mask_util.toBbox(mask_util.encode(np.asfortranarray(
            _rle_pixels(want_mask[0]["segmentation"], h, w)))).tolist()
        got_boxes = sorted((a for a in got_det if "segmentation" not in a),
                           key=lambda a: a["category"] != cat_name[want_boxes[0]["category_id"]])
        assert len(got_boxes) == 2 and len(want_boxes) == 1
        assert got_boxes[0]["category"] == cat_name[want_boxes[0]["category_id"]]
        assert _close(got_boxes[0]["bbox"], want_boxes[0]["bbox"])
        assert got_boxes[0]["attributes"]["occluded"] == want_boxes[0]["attributes"]["occluded"]
        assert got_boxes[0]["attributes"]["colour"] == want_boxes[0]["attributes"]["colour"]
        assert got_boxes[1]["category"] == "stone" and _close(got_boxes[1]["bbox"], mask_box)
        # polygons: vertices equal
        want_poly = [a for a in src_anns if isinstance(a["segmentation"], list) and a["segmentation"]]
        got_poly = [a for a in got_det if isinstance(a.get("segmentation"), list)]
        assert [(a["category"], a["segmentation"]) for a in got_poly] == \
            [(cat_name[a["category_id"]], a["segmentation"]) for a in want_poly]
        # masks: pixels equal
        got_mask = [a for a in got_seg if isinstance(a.get("segmentation"), dict)]
        assert len(got_mask) == len(want_mask) == 1
        assert got_mask[0]["category"] == cat_name[want_mask[0]["category_id"]]
        assert np.array_equal(_rle_pixels(got_mask[0]["segmentation"], h, w),
                              _rle_pixels(want_mask[0]["segmentation"], h, w))
        assert det["sizes"][rel] == (w, h)


def test_yolo_round_trip(tmp_path: Path) -> None:
    src = tmp_path / "yolo"
    lines = synth.make_yolo(src)
    res = import_dataset(src, tmp_path / "minio", "auto")
    assert res.format == "yolo" and res.labels == ["weed", "crop"] and res.renamed == 2
    det = run_prepare(tmp_path / "minio", 1, tmp_path / "det", "detection")
    assert det["categories"] == ["weed", "crop"]
    names = ["weed", "crop"]
    W, H = synth.W, synth.H
    assert set(det["per_image"]) == set(lines)
    for rel, rows in lines.items():
        got = det["per_image"][rel]
        want_boxes, want_polys = [], []
        for r in rows:
            v = r.split()
            c, nums = names[int(v[0])], [float(t) for t in v[1:]]
            if len(nums) == 4:
                cx, cy, bw, bh = nums
                want_boxes.append((c, [(cx - bw / 2) * W, (cy - bh / 2) * H, bw * W, bh * H]))
            else:
                want_polys.append((c, [x * (W if i % 2 == 0 else H) for i, x in enumerate(nums)]))
        got_boxes = _boxes(got)
        assert len(got_boxes) == len(want_boxes)
        for (gc, gb), (wc, wb) in zip(got_boxes, sorted(want_boxes), strict=True):
            assert gc == wc and _close(gb, wb)
        got_polys = [(a["category"], a["segmentation"][0]) for a in got if "segmentation" in a]
        assert len(got_polys) == len(want_polys)
        for (gc, gp), (wc, wp) in zip(got_polys, want_polys, strict=True):
            assert gc == wc and _close(gp, wp)


def test_voc_round_trip(tmp_path: Path) -> None:
    src = tmp_path / "voc"
    want = synth.make_voc(src)
    res = import_dataset(src, tmp_path / "minio")
    assert res.format == "voc"
    det = run_prepare(tmp_path / "minio", 1, tmp_path / "det", "detection")
    # first appearance (sorted files): cat, person, dog
    assert det["categories"] == ["cat", "person", "dog"]
    assert set(det["per_image"]) == set(want)
    for rel, objs in want.items():
        got = _boxes(det["per_image"][rel])
        exp = sorted((n, [b[0], b[1], b[2] - b[0], b[3] - b[1]]) for n, b in objs)
        assert len(got) == len(exp)
        for (gc, gb), (wc, wb) in zip(got, exp, strict=True):
            assert gc == wc and _close(gb, wb)
        atts = {a["category"]: a["attributes"] for a in det["per_image"][rel]}
        assert atts["person"]["occluded"] is True
        assert atts.get("cat", atts.get("dog"))["pose"] == "Left"


def test_imagefolder_round_trip(tmp_path: Path) -> None:
    src = tmp_path / "flowers"
    want = synth.make_imagefolder(src)
    res = import_dataset(src, tmp_path / "minio")
    assert res.format == "imagefolder"
    cls = run_prepare(tmp_path / "minio", 1, tmp_path / "cls", "classification")
    assert cls["categories"] == ["daisy", "rose", "tulip"]  # torchvision's sorted order
    assert set(cls["per_image"]) == set(want)
    for rel, c in want.items():
        assert [a["category"] for a in cls["per_image"][rel]] == [c]


def test_cvat_round_trip_keeps_everything(tmp_path: Path) -> None:
    src = tmp_path / "export"
    synth.make_cvat(src)
    res = import_dataset(src, tmp_path / "minio")
    assert res.format == "cvat" and res.images == 4 and res.losses == {}
    xml = (res.target / "annotations" / "annotations.xml").read_text()
    assert "<skeleton" in xml and "<task><id>9</id>" in xml  # meta and shapes verbatim
    seg = run_prepare(tmp_path / "minio", 1, tmp_path / "seg", "segmentation")
    det = run_prepare(tmp_path / "minio", 1, tmp_path / "det", "detection")
    assert seg["categories"] == ["crop", "weed"]
    for i in range(4):
        rel = f"images/user/{i % 2}/p{i // 2}.png"
        boxes = _boxes(det["per_image"][rel])
        # the box, and detection's box of the mask (its left top width height)
        assert boxes == [("crop", [5, 30, 3, 3]), ("weed", [1.5, 2.25, 10.25, 9.75])]
        poly = [a["segmentation"] for a in det["per_image"][rel] if "segmentation" in a]
        assert poly == [[[30.0, 4.0, 50.0, 6.0, 44.5, 20.25]]]
        masks = [a for a in seg["per_image"][rel] if isinstance(a.get("segmentation"), dict)]
        px = _rle_pixels(masks[0]["segmentation"], synth.H, synth.W)
        want = np.zeros((synth.H, synth.W), np.uint8)
        want[30:33, 5:8] = np.array([0, 1, 1, 0, 0, 0, 1, 1, 1]).reshape(3, 3)
        assert np.array_equal(px, want)


def test_import_report_and_mapping(tmp_path: Path) -> None:
    src = tmp_path / "coco"
    doc = synth.make_coco(src, n=2)
    doc["images"][0]["license"] = 3
    doc["annotations"][0]["keypoints"] = [1, 2, 2]
    (src / "annotations" / "instances.json").write_text(json.dumps(doc))
    res = import_dataset(src, tmp_path / "minio")
    assert res.losses["image field 'license' (not carried)"]["count"] == 1
    assert res.losses["annotation field 'keypoints' (not carried)"] == {
        "count": 1, "examples": ["id 1"]}
    ann = res.target / "annotations"
    mapping = json.loads((ann / "mapping.json").read_text())["files"]
    assert mapping == {"img0.png": "images/a/img0.png", "images__b__img0.png": "images/b/img0.png"}
    report = json.loads((ann / "import-report.json").read_text())
    assert report["not_carried"] == res.losses


@pytest.mark.parametrize("fmt", ["coco", "yolo", "voc", "imagefolder", "cvat"])
def test_import_is_deterministic_and_links(tmp_path: Path, fmt: str) -> None:
    src = tmp_path / "src"
    {"coco": synth.make_coco, "yolo": synth.make_yolo, "voc": synth.make_voc,
     "imagefolder": synth.make_imagefolder, "cvat": synth.make_cvat}[fmt](src)
    a = import_dataset(src, tmp_path / "m1", fmt)
    b = import_dataset(src, tmp_path / "m2", fmt)
    for rel in ("annotations/annotations.xml", "annotations/mapping.json"):
        assert (a.target / rel).read_bytes().replace(b"/m1", b"") == \
            (b.target / rel).read_bytes().replace(b"/m2", b"")
    assert a.linked == a.images and a.copied == 0
    some = next(p for p in a.target.iterdir() if p.is_file())
    assert some.stat().st_nlink >= 2  # a hard link, not a copy


def test_coco_plain_boxes_fast_path_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                               ) -> None:
    """Plain boxes (no attributes) take the chunked line-formatting path: chunks of 2 images
    here, mixed with polygons and images without annotations."""
    from tcli.datasets import coco

    monkeypatch.setattr(coco, "CHUNK", 2)
    src = tmp_path / "coco"
    images, anns = [], []
    for i in range(7):
        synth.png(src / f"p{i}.png", shade=i)
        images.append({"id": i + 1, "file_name": f"p{i}.png", "width": synth.W, "height": synth.H})
        for k in range(i % 3):
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": 1 + k % 2,
                         "bbox": [k + 0.333, i + 0.5, 10.125, 3 + k]})
        if i == 4:
            anns.append({"id": len(anns) + 1, "image_id": 5, "category_id": 2,
                         "segmentation": [[1, 1, 9, 1, 9, 9]], "bbox": [1, 1, 8, 8]})
    doc = {"images": images, "annotations": anns[::-1],  # not grouped by image
           "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]}
    (src / "coco.json").write_text(json.dumps(doc))
    import_dataset(src, tmp_path / "minio")
    det = run_prepare(tmp_path / "minio", 1, tmp_path / "det", "detection")
    for im in images:
        want = sorted((("a", "b")[a["category_id"] - 1], a["bbox"]) for a in anns
                      if a["image_id"] == im["id"] and "segmentation" not in a)
        got = _boxes(det["per_image"][im["file_name"]])
        assert len(got) == len(want)
        for (gc, gb), (wc, wb) in zip(got, want, strict=True):
            assert gc == wc and _close(gb, wb)
    assert [a["segmentation"] for a in det["per_image"]["p4.png"] if "segmentation" in a] == \
        [[[1, 1, 9, 1, 9, 9]]]
