"""inspect's problem finding, the RLE decoder against pycocotools, and the import cache."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as mask_util

from tcli.datasets import rle
from tcli.datasets.importer import ensure_platform_layout, import_dataset
from tcli.datasets.inspect import inspect

from . import synth


def test_compressed_rle_matches_pycocotools() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        m = (rng.random((31, 47)) > 0.6).astype(np.uint8)
        enc = mask_util.encode(np.asfortranarray(m))
        seg = {"size": enc["size"], "counts": enc["counts"].decode("ascii")}
        assert np.array_equal(rle.decode(seg), m)


def test_huge_rle_is_refused_before_allocating(tmp_path: Path) -> None:
    from tcli.errors import InputError

    doc = synth.make_coco(tmp_path / "src", n=2)
    doc["annotations"][2]["segmentation"] = {"size": [100000, 100000], "counts": "0"}
    (tmp_path / "src" / "annotations" / "instances.json").write_text(json.dumps(doc))
    with pytest.raises(InputError, match=r"annotations\[2\] \(id 3\): segmentation RLE is "
                       r"invalid \(size 100000x100000 is empty or over"):
        import_dataset(tmp_path / "src", tmp_path / "minio")
    assert not (tmp_path / "minio" / "datasets" / "1").exists()


def test_inspect_finds_box_problems(tmp_path: Path) -> None:
    doc = synth.make_coco(tmp_path / "src", n=3)
    doc["annotations"][0]["bbox"] = [5, 5, 0.5, 10]  # degenerate
    doc["annotations"][3]["bbox"] = [60, 40, 20, 20]  # runs past 64x48
    doc["categories"].append({"id": 9, "name": "never", "supercategory": ""})
    (tmp_path / "src" / "annotations" / "instances.json").write_text(json.dumps(doc))
    synth.png(tmp_path / "src" / "images" / "stray.png")
    ins = inspect(tmp_path / "src")
    kinds = {p.kind: p for p in ins.problems}
    assert kinds["degenerate boxes (width or height < 1 px)"].count == 1
    assert kinds["boxes outside the image"].examples == [
        "images/b/img0.png: (60.0,40.0)-(80.0,60.0) in 64x48"]
    assert kinds["declared but unused labels"].examples == ["never"]
    assert kinds["duplicate file names"].examples == ["img0.png (2x)"]
    assert [n for n, _s, _i in ins.labels] == ["weed", "crop", "stone", "never"]
    assert ins.images == 3 and ins.shapes == 9
    assert kinds["files without annotations (not referenced)"].examples == ["images/stray.png"]
    res = import_dataset(tmp_path / "src", tmp_path / "minio")
    assert (res.unreferenced, res.unreferenced_examples) == (1, ["images/stray.png"])


def test_ensure_platform_layout_caches_by_content(tmp_path: Path) -> None:
    src = tmp_path / "yolo"
    synth.make_yolo(src)
    cache = tmp_path / "cache"
    first = ensure_platform_layout(src, cache)
    assert (first / "annotations" / "annotations.xml").is_file() and first.name == "1"
    stamp = os.stat(first / "annotations" / "annotations.xml").st_mtime_ns
    again = ensure_platform_layout(src, cache)
    assert again == first  # not converted again
    assert os.stat(again / "annotations" / "annotations.xml").st_mtime_ns == stamp
    (src / "labels" / "train" / "x0.txt").write_text("1 0.5 0.5 0.25 0.25\n")
    changed = ensure_platform_layout(src, cache)
    assert changed != first and changed.parent.parent.parent == cache
    # a dataset already in the platform layout is used as it is
    res = import_dataset(src, tmp_path / "minio")
    assert ensure_platform_layout(res.target, cache) == res.target


def test_copies_when_hard_links_fail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    def no_link(*_a: object, **_k: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    synth.make_imagefolder(tmp_path / "src")
    monkeypatch.setattr(os, "link", no_link)
    res = import_dataset(tmp_path / "src", tmp_path / "minio")
    assert (res.linked, res.copied) == (0, 15)
    some = next(p for p in res.target.iterdir() if p.is_file())
    assert some.stat().st_nlink == 1 and some.read_bytes()[:4] == b"\x89PNG"


def test_dest_inside_src_is_not_imported_again(tmp_path: Path) -> None:
    src = tmp_path / "flowers"
    synth.make_imagefolder(src)
    first = import_dataset(src, src / "minio")
    assert first.format == "imagefolder" and first.images == 15
    second = import_dataset(src, src / "minio")  # the first import is not part of SRC
    assert (second.format, second.images, second.dataset_id) == ("imagefolder", 15, 2)
    assert second.losses == {}
