"""Dataset stage: matching, split, COCO/YOLO/ImageFolder output, idempotency, errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from .helpers import box_image, cvat_xml, make_dataset


def _prepare(tmp_path: Path, task: str = "detection", ds_id: str = "7", **kw):
    import dataset

    lines: list[str] = []
    res = dataset.prepare(task, kw.pop("config", {"train-split": 0.8, "test-split": 0.2}),
                          dataset_id=ds_id, minio=tmp_path / "minio",
                          datasets=tmp_path / "datasets", log=lines.append, **kw)
    return res, lines


def _tree(root: Path) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        out[rel] = os.readlink(p) if p.is_symlink() else (p.read_text() if p.is_file() else "/")
    return out


def test_detection_coco_output_with_negatives(tmp_path: Path) -> None:
    d = make_dataset(tmp_path / "minio", 7, 10)
    from PIL import Image

    Image.new("RGB", (40, 30)).save(d / "negative.png")
    (d / ".hidden.png").write_bytes(b"x")
    res, lines = _prepare(tmp_path)
    root = tmp_path / "datasets"
    train = json.loads((root / "labels/train/labels.json").read_text())
    val = json.loads((root / "labels/val/labels.json").read_text())
    assert train["categories"] == [{"id": 1, "name": "weed", "supercategory": ""},
                                   {"id": 2, "name": "crop", "supercategory": ""}]
    assert val["categories"] == train["categories"]
    names = sorted(i["file_name"] for i in train["images"] + val["images"])
    assert names == sorted([f"{i}.png" for i in range(10)] + ["negative.png"])
    neg = next(i for i in train["images"] + val["images"] if i["file_name"] == "negative.png")
    assert (neg["width"], neg["height"]) == (40, 30)
    anns = train["annotations"] + val["annotations"]
    assert len(anns) == 10
    assert all(a["image_id"] != neg["id"] for a in anns)
    a = anns[0]
    assert set(a) == {"id", "image_id", "category_id", "bbox", "area", "iscrowd", "attributes"}
    assert a["bbox"] == [1.5, 2, 10, 10] and a["area"] == 100 and a["iscrowd"] == 0
    # one link to the dataset folder, per-file links through it: short targets that
    # resolve to the sample in $MINIO_ROOT/datasets/<id>/
    assert os.readlink(root / "images" / ".src") == str(d)
    for split, coco in (("train", train), ("val", val)):
        for img in coco["images"]:
            link = root / "images" / split / img["file_name"]
            assert os.readlink(link) == "../.src/" + img["file_name"]
            assert os.path.realpath(link) == os.path.realpath(d / img["file_name"])
    manifest = json.loads((root / "split_manifest.json").read_text())
    assert len(manifest["samples"]) == 11
    # one negative: its class "<none>" has a single sample -> random split, reason recorded
    assert manifest["stratified"] is False and "<none>" in manifest["fallback_reason"]
    assert {s["split"] for s in manifest["samples"]} == {"train", "val"}
    assert res["counts"] == {"train": len(train["images"]), "val": len(val["images"])}
    assert any(line.startswith("dataset 7: 11 samples") for line in lines)


def test_classification_tags_imagefolder_and_single_box_fallback(tmp_path: Path) -> None:
    imgs = [box_image(i, f"{i}.png", "weed" if i % 2 else "crop") for i in range(8)]
    # image 8: no tag but exactly one box label -> that label
    imgs.append('<image id="8" name="8.png" width="32" height="24"><box label="crop" xtl="0" '
                'ytl="0" xbr="2" ybr="2"/><box label="crop" xtl="1" ytl="1" xbr="3" ybr="3"/>'
                '</image>')
    make_dataset(tmp_path / "minio", 7, 9, xml=cvat_xml(imgs))
    _prepare(tmp_path, "classification")
    root = tmp_path / "datasets"
    cocos = [json.loads((root / f"labels/{s}/labels.json").read_text()) for s in ("train", "val")]
    anns = [a for c in cocos for a in c["annotations"]]
    assert all(set(a) == {"id", "image_id", "category_id"} for a in anns)
    by_name = {i["id"]: i["file_name"] for c in cocos for i in c["images"]}
    assert {by_name[a["image_id"]]: a["category_id"] for a in anns}["8.png"] == 2
    folder = sorted(str(p.relative_to(root / "imagefolder")) for p in
                    (root / "imagefolder").rglob("*.png"))
    assert len(folder) == 9 and all(p.split("/")[1] in ("weed", "crop") for p in folder)


def test_segmentation_polygon_and_mask(tmp_path: Path) -> None:
    xml = cvat_xml([
        '<image id="0" name="0.png" width="32" height="24"><polygon label="weed" '
        'points="0,0;4,0;4,3" z_order="1"/><mask label="crop" rle="2, 3, 1" left="1" top="1" '
        'width="3" height="2" z_order="0"/></image>',
        '<image id="1" name="1.png" width="32" height="24"><polygon label="crop" '
        'points="0,0;2,0;2,2;0,2"/></image>'])
    make_dataset(tmp_path / "minio", 7, 2, xml=xml)
    _prepare(tmp_path, "segmentation", config={"train-split": 1.0, "test-split": 0.0})
    coco = json.loads((tmp_path / "datasets/labels/train/labels.json").read_text())
    poly, mask, poly2 = coco["annotations"]
    assert poly["segmentation"] == [[0, 0, 4, 0, 4, 3]] and poly["area"] == 6.0
    assert poly["bbox"] == [0, 0, 4, 3] and poly["attributes"]["z_order"] == 1
    assert mask["iscrowd"] == 1 and mask["segmentation"]["size"] == [24, 32]
    assert mask["area"] == 3.0 and sum(mask["segmentation"]["counts"]) == 24 * 32
    assert poly2["area"] == 4.0


def test_yolo_output_and_remainder_goes_to_test(tmp_path: Path) -> None:
    make_dataset(tmp_path / "minio", 7, 20)
    res, _ = _prepare(tmp_path, formats=["yolo"],
                      config={"train-split": 0.6, "test-split": 0.2})
    root = tmp_path / "datasets"
    assert set(res["counts"]) == {"train", "val", "test"}
    assert sum(res["counts"].values()) == 20 and res["counts"]["test"] == 4
    txt = next((root / "labels/train").glob("*.txt")).read_text().split()
    assert len(txt) == 5 and txt[0] in ("0", "1")
    assert float(txt[1]) == pytest.approx((1.5 + 5) / 32, abs=1e-6)
    data = (root / "data.yaml").read_text()
    assert "test: images/test" in data and 'names: ["weed", "crop"]' in data


def test_rerun_is_idempotent_and_deterministic(tmp_path: Path) -> None:
    make_dataset(tmp_path / "minio", 7, 12)
    _prepare(tmp_path)
    first = _tree(tmp_path / "datasets")
    _prepare(tmp_path)
    assert _tree(tmp_path / "datasets") == first
    assert not (tmp_path / "datasets/.tc-staging").exists()


def test_switching_dataset_leaves_nothing_stale(tmp_path: Path) -> None:
    make_dataset(tmp_path / "minio", 7, 12, prefix="a")
    make_dataset(tmp_path / "minio", 8, 5, prefix="b")
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets/keep.txt").write_text("not ours")
    _prepare(tmp_path, "classification", ds_id="7")
    _prepare(tmp_path, "classification", ds_id="8")
    links = [p for p in (tmp_path / "datasets").rglob("*") if p.is_symlink()]
    ds8 = os.path.realpath(tmp_path / "minio/datasets/8")
    assert links and all(os.path.realpath(p).startswith(ds8) for p in links)
    assert all(os.path.realpath(p) == os.path.join(ds8, p.name) for p in links
               if p.name != ".src")
    assert (tmp_path / "datasets/keep.txt").read_text() == "not ours"


def test_stratification_falls_back_to_random_with_reason(tmp_path: Path) -> None:
    xml = cvat_xml([box_image(0, "0.png", "weed")] +
                   [box_image(i, f"{i}.png", "crop") for i in range(1, 6)])
    make_dataset(tmp_path / "minio", 7, 6, xml=xml)
    res, lines = _prepare(tmp_path)
    assert res["stratified"] is False and "fewer than 2 samples: weed" in res["fallback_reason"]
    assert any("random split" in line for line in lines)


def test_annotations_without_image_are_counted(tmp_path: Path) -> None:
    make_dataset(tmp_path / "minio", 7, 4, xml=cvat_xml(
        [box_image(i, f"{i}.png", "weed") for i in range(4)] +
        [box_image(9, "ghost.png", "weed")]))
    res, lines = _prepare(tmp_path)
    assert res["warnings"]["annotated images without a file in the dataset (ignored)"] == 1
    assert any("ghost.png" in line for line in lines)


@pytest.mark.parametrize(("setup", "ds_id", "needle"), [
    ("empty", "7", "no samples"),
    ("none", "7", "dataset folder not found"),
    ("noxml", "7", "annotations.xml: missing"),
    ("ok", "abc", "DATASET_ID='abc' is not a positive integer"),
    ("ok", "0", "DATASET_ID='0' is not a positive integer"),
    ("ok", "7; rm -rf /", "is not a positive integer"),
    ("ok", "", "DATASET_ID is not set"),
    ("traversal", "7", "contains '..'"),
])
def test_dataset_errors(tmp_path: Path, setup: str, ds_id: str, needle: str) -> None:
    import dataset

    minio = tmp_path / "minio"
    if setup == "empty":
        (minio / "datasets/7/annotations").mkdir(parents=True)
    elif setup == "noxml":
        make_dataset(minio, 7, 2)
        (minio / "datasets/7/annotations/annotations.xml").unlink()
    elif setup == "ok":
        make_dataset(minio, 7, 2)
    elif setup == "traversal":
        make_dataset(minio, 7, 2, xml=cvat_xml([box_image(0, "../../etc/passwd", "weed")]))
    with pytest.raises(dataset.DatasetError) as exc:
        _prepare(tmp_path, ds_id=ds_id)
    assert needle in str(exc.value)
    assert not (tmp_path / "datasets" / "images").exists()


def test_unwritable_output_dir_is_a_clear_error(tmp_path: Path) -> None:
    import dataset

    make_dataset(tmp_path / "minio", 7, 3)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(dataset.DatasetError) as exc:
        dataset.prepare("detection", {}, dataset_id="7", minio=tmp_path / "minio",
                        datasets=blocker / "datasets", log=lambda m: None)
    assert "cannot write the dataset" in str(exc.value) and str(blocker) in str(exc.value)


def test_split_is_stratified_and_seeded() -> None:
    import dataset

    keys = ["a"] * 50 + ["b"] * 50
    s1, strat, _ = dataset.split_samples(keys, 0.8, 0.2, 42)
    s2, _, _ = dataset.split_samples(keys, 0.8, 0.2, 42)
    assert s1 == s2 and strat
    assert sum(1 for k, s in zip(keys, s1, strict=True) if s == "val" and k == "a") == 10
    with pytest.raises(dataset.DatasetError, match="sum at most 1"):
        dataset.split_samples(keys, 0.9, 0.2, 42)


def test_link_worker_gives_the_same_tree_as_in_process(tmp_path: Path, monkeypatch) -> None:
    """Large datasets get their links from a worker process (started before the parse);
    the result must not depend on where the links were made."""
    make_dataset(tmp_path / "minio", 7, 40)
    monkeypatch.setenv("TC_LINK_WORKER", "0")
    res, _ = _prepare(tmp_path, "classification")
    in_process = _tree(tmp_path / "datasets")
    monkeypatch.setenv("TC_LINK_WORKER", "1")
    monkeypatch.setenv("TC_LINK_WORKER_MIN", "1")
    import dataset

    started: list[object] = []
    real = dataset.Linker.start

    def spy(n: int):
        w = real(n)
        started.append(w.in_worker)
        return w

    monkeypatch.setattr(dataset.Linker, "start", staticmethod(spy))
    res2, _ = _prepare(tmp_path, "classification")
    assert started == [True], "the link worker did not start"
    assert _tree(tmp_path / "datasets") == in_process
    assert res2["stratified"] == res["stratified"] and res2["counts"] == res["counts"]
    assert set(res2["timings"]) == {"list", "parse", "match", "split", "write"}


def _split_cases():
    import random

    rng = random.Random(0)
    fractions = [(0.8, 0.2), (0.7, 0.3), (0.6, 0.2), (0.5, 0.25), (0.9, 0.1), (0.34, 0.33),
                 (0.1, 0.9)]
    for trial in range(400):
        sizes = [rng.choice([2, 3, 5, rng.randint(2, 300)]) for _ in range(rng.randint(2, 8))]
        keys = [f"class{c}" for c, s in enumerate(sizes) for _ in range(s)]
        rng.shuffle(keys)
        yield trial, sizes, keys, *rng.choice(fractions)


def test_own_stratified_split_has_scikit_learns_properties() -> None:
    """Per class, every split is within one sample of its exact share; every class has a
    training sample; the totals are within one sample of n * fraction whenever every class
    can have its share; the same seed gives the same split, another seed another one; and
    per class the training counts are within one of scikit-learn's train_test_split."""
    from collections import Counter

    import dataset
    from sklearn.model_selection import train_test_split

    for trial, sizes, keys, train, test in _split_cases():
        rest = max(0.0, 1 - train - test)
        a = dataset.stratified_split(keys, train, test, trial)
        assert a == dataset.stratified_split(keys, train, test, trial)
        got = Counter(zip(keys, a, strict=True))
        for c, size in enumerate(sizes):
            for split, frac in (("train", train), ("val", test), ("test", rest)):
                assert abs(got[(f"class{c}", split)] - size * frac) < 1 + 1e-9, \
                    (sizes, train, test, c, split)
            assert got[(f"class{c}", "train")] >= 1
        totals = Counter(a)
        for split, frac in (("train", train), ("val", test), ("test", rest)):
            assert abs(totals[split] - len(keys) * frac) < len(sizes)
            if min(sizes) * min(train, test) >= 1:
                assert abs(totals[split] - len(keys) * frac) < 1 + 1e-9
        if rest == 0 and min(sizes) * test >= 1:
            idx = list(range(len(keys)))
            try:
                sk_train, _ = train_test_split(idx, train_size=train, test_size=test,
                                               stratify=keys, random_state=trial)
            except ValueError:  # e.g. fewer training samples than classes: it refuses
                continue
            sk = Counter(keys[i] for i in sk_train)
            for c in range(len(sizes)):
                assert abs(sk[f"class{c}"] - got[(f"class{c}", "train")]) <= 1
    keys = ["a"] * 60 + ["b"] * 40
    assert dataset.stratified_split(keys, 0.8, 0.2, 1) != dataset.stratified_split(keys, 0.8, 0.2, 2)


def test_stage_imports_neither_scikit_learn_nor_numpy(tmp_path: Path) -> None:
    """The split is our own: a whole detection run in a fresh interpreter imports neither."""
    import subprocess
    import sys

    from .conftest import COMMON, DATASETS

    make_dataset(tmp_path / "minio", 7, 30, real_images=False)
    paths = [str(COMMON), str(DATASETS)]
    code = (f"import sys; sys.path[:0] = {paths!r}; import dataset; from pathlib import Path; "
            f"dataset.prepare('detection', {{}}, dataset_id='7', minio=Path({str(tmp_path / 'minio')!r}), "
            f"datasets=Path({str(tmp_path / 'out')!r}), log=lambda m: None); "
            "print(sorted(m for m in ('sklearn', 'numpy', 'scipy') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
    assert json.loads((tmp_path / "out/split_manifest.json").read_text())["stratified"]


def test_rerun_with_workers_is_byte_identical_and_deletes_old_output_after(
        tmp_path: Path, monkeypatch) -> None:
    """As for a large dataset under `docker start`: links by the worker, the previous
    output renamed into .tc-trash and deleted by a detached process; label files and the
    manifest of the rerun are byte-identical, and the trash ends up gone."""
    import dataset
    import dataset_files

    monkeypatch.setenv("TC_LINK_WORKER_MIN", "1")
    monkeypatch.setenv("TC_BACKGROUND_DELETE_MIN", "1")
    make_dataset(tmp_path / "minio", 7, 30)
    _prepare(tmp_path, "classification", formats=["coco", "yolo", "imagefolder"])
    root = tmp_path / "datasets"
    assert dataset.wait_for_cleanup(30)
    first = _tree(root)
    manifest = (root / "split_manifest.json").read_bytes()
    _prepare(tmp_path, "classification", formats=["coco", "yolo", "imagefolder"])
    assert dataset_files.DELETERS, "no detached deleter was started"
    assert dataset.wait_for_cleanup(30)
    assert not (root / ".tc-trash").exists() and not (root / ".tc-staging").exists()
    assert _tree(root) == first
    assert (root / "split_manifest.json").read_bytes() == manifest


def test_leftovers_of_a_crash_are_cleared_and_a_failed_run_keeps_the_output(
        tmp_path: Path) -> None:
    import dataset

    make_dataset(tmp_path / "minio", 7, 12)
    _prepare(tmp_path)
    root = tmp_path / "datasets"
    good = _tree(root)
    # a run killed half-way: a staging tree, and a trash generation its deleter never removed
    (root / ".tc-staging/images/train").mkdir(parents=True)
    (root / ".tc-staging/images/train/x.png").symlink_to("/nowhere")
    (root / ".tc-trash/1-2/labels/train").mkdir(parents=True)
    (root / ".tc-trash/1-2/labels/train/labels.json").write_text("{}")
    (root / "mine.txt").write_text("not the stage's")
    _prepare(tmp_path)
    assert _tree(root) == {**good, "mine.txt": "not the stage's"}
    # a run that fails (broken XML) leaves the previous output as it was
    xml = tmp_path / "minio/datasets/7/annotations/annotations.xml"
    xml.write_text('<annotations><image id="0" name="0.png">')
    with pytest.raises(dataset.DatasetError, match="malformed or truncated"):
        _prepare(tmp_path)
    assert _tree(root) == {**good, "mine.txt": "not the stage's"}


def test_link_targets_stay_short_whatever_the_root(tmp_path: Path) -> None:
    """ext4 keeps a symlink target under 60 bytes in the inode: the per-file links go
    through one directory link, so a deep MINIO_ROOT does not lengthen them."""
    deep = tmp_path / ("m" * 80) / ("n" * 80)
    make_dataset(deep, 123456789, 6, real_images=False)
    import dataset

    dataset.prepare("detection", {}, dataset_id="123456789", minio=deep,
                    datasets=tmp_path / "datasets", log=lambda m: None)
    links = [p for p in (tmp_path / "datasets/images").rglob("*.png")]
    assert len(links) == 6
    for p in links:
        assert len(os.readlink(p)) < 60
        assert os.path.realpath(p) == os.path.realpath(deep / "datasets/123456789" / p.name)


@pytest.mark.parametrize(("rank", "written"), [(None, True), ("0", True), ("1", False)])
def test_report_split_written_by_node_0_only(tmp_path: Path, monkeypatch, rank, written) -> None:
    """split.json (what tc report reads) lands in the output folder of node 0 only: the other
    nodes of a multi-node job write nothing there."""
    import dataset

    if rank is None:
        monkeypatch.delenv("PET_NODE_RANK", raising=False)
    else:
        monkeypatch.setenv("PET_NODE_RANK", rank)
    make_dataset(tmp_path / "minio", 7, 10)
    manifest, _ = _prepare(tmp_path)
    out = tmp_path / "train-out"
    got = dataset.write_report_split(manifest, datasets=tmp_path / "datasets", train=out)
    assert (got is not None) is written
    assert (out / dataset.REPORT_SPLIT).is_file() is written
