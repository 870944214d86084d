"""tcli.datasets.demo: layout, CVAT content, determinism, input errors."""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tcli.contract import DATASET_TASKS
from tcli.datasets.demo import LABELS, resolve_task, write_demo_dataset
from tcli.errors import InputError


def _digest(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.mark.parametrize("task", DATASET_TASKS)
def test_layout_and_cvat(tmp_path: Path, task: str) -> None:
    target = write_demo_dataset(tmp_path, task, images=7, seed=3, dataset_id=5)
    assert target == tmp_path / "datasets" / "5"
    samples = sorted(p.name for p in target.iterdir() if p.is_file() and p.name != ".tc-made.json")
    assert samples == [f"demo_{i:04d}.png" for i in range(7)]
    assert (target / ".tc-made.json").is_file()  # what tc made, by content (issue 28)
    root = ET.parse(target / "annotations" / "annotations.xml").getroot()
    assert root.findtext("version") == "1.1"
    assert [e.text for e in root.iterfind("meta/task/labels/label/name")] == list(LABELS)
    images = root.findall("image")
    assert [im.get("name") for im in images] == samples
    for im in images:
        w, h = int(im.get("width", 0)), int(im.get("height", 0))
        with Image.open(target / str(im.get("name"))) as pil:
            assert pil.size == (w, h)
        kids = list(im)
        assert kids, "every demo image carries at least one annotation"
        expected = {"classification": "tag", "detection": "box", "segmentation": "polygon"}[task]
        assert {k.tag for k in kids} == {expected}
        for k in kids:
            assert k.get("label") in LABELS
            if expected == "box":
                xtl, ytl, xbr, ybr = (float(k.get(a, "nan")) for a in ("xtl", "ytl", "xbr", "ybr"))
                assert 0 <= xtl < xbr <= w and 0 <= ytl < ybr <= h
            if expected == "polygon":
                pts = [tuple(map(float, p.split(","))) for p in k.get("points", "").split(";")]
                assert len(pts) >= 3 and all(0 <= x <= w and 0 <= y <= h for x, y in pts)


def test_shape_pixels_match_annotation(tmp_path: Path) -> None:
    """The shape is drawn where its box says, in its class colour family."""
    target = write_demo_dataset(tmp_path, "detection", images=4, seed=1)
    root = ET.parse(target / "annotations" / "annotations.xml").getroot()
    for im in root.findall("image"):
        arr = np.asarray(Image.open(target / str(im.get("name"))).convert("RGB")).astype(int)
        for box in im.findall("box"):
            x0, y0, x1, y1 = (float(box.get(a, "0")) for a in ("xtl", "ytl", "xbr", "ybr"))
            cx, cy = int((x0 + x1) / 2), int((y0 + y1) / 2)
            pixel = arr[cy, cx]
            channel = {"circle": 0, "square": 1, "triangle": 2}[str(box.get("label"))]
            assert int(np.argmax(pixel)) == channel, (im.get("name"), box.get("label"), pixel)


def test_deterministic_per_seed(tmp_path: Path) -> None:
    a = write_demo_dataset(tmp_path / "a", "segmentation", images=5, seed=7)
    b = write_demo_dataset(tmp_path / "b", "segmentation", images=5, seed=7)
    c = write_demo_dataset(tmp_path / "c", "segmentation", images=5, seed=8)
    assert _digest(a) == _digest(b)
    assert _digest(a) != _digest(c)


def test_rewrite_removes_stale_samples(tmp_path: Path) -> None:
    write_demo_dataset(tmp_path, "classification", images=9)
    target = write_demo_dataset(tmp_path, "classification", images=3)
    assert len(list(target.glob("demo_*.png"))) == 3
    assert [p.name for p in target.rglob(".*")] == [".tc-made.json"]  # no temp files left


def test_classification_is_balanced(tmp_path: Path) -> None:
    target = write_demo_dataset(tmp_path, "sklearn", images=30)
    root = ET.parse(target / "annotations" / "annotations.xml").getroot()
    labels = [t.get("label") for t in root.iterfind("image/tag")]
    assert sorted(labels.count(n) for n in LABELS) == [10, 10, 10]


def test_resolve_task_alias_and_errors(tmp_path: Path) -> None:
    assert resolve_task("sklearn") == "classification"
    assert resolve_task(" Detection ") == "detection"
    with pytest.raises(InputError, match="unknown task 'keypoints'"):
        write_demo_dataset(tmp_path, "keypoints")
    with pytest.raises(InputError, match="--images: 0 is out of range"):
        write_demo_dataset(tmp_path, "detection", images=0)


def test_foreign_files_refused_unless_force(tmp_path: Path) -> None:
    mine = tmp_path / "datasets" / "1" / "notes.txt"
    mine.parent.mkdir(parents=True)
    mine.write_text("mine")
    with pytest.raises(InputError, match=r"notes\.txt"):
        write_demo_dataset(tmp_path, "classification", images=2)
    assert not (tmp_path / "datasets" / "1" / "annotations").exists()
    target = write_demo_dataset(tmp_path, "classification", images=2, force=True)
    assert (target / "annotations" / "annotations.xml").is_file() and mine.read_text() == "mine"
    write_demo_dataset(tmp_path / "b", "classification", images=3)
    write_demo_dataset(tmp_path / "b", "classification", images=2)  # a rerun over its own files
    assert sorted(p.name for p in (tmp_path / "b" / "datasets" / "1").glob("*.png")) == [
        "demo_0000.png", "demo_0001.png"]
