"""tc dataset import|inspect through the Typer app: exact output, bad input (one line naming
the file/field, exit 2, nothing written outside DEST)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tcli.cli import app
from tests.unit.datasets import synth


def _run(*args: str | Path) -> tuple[int, str]:
    r = CliRunner().invoke(app, ["dataset", *map(str, args)])
    return r.exit_code, r.output


def _snapshot(root: Path, skip: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for dirpath, dirs, files in os.walk(root):
        d = Path(dirpath)
        dirs[:] = [x for x in dirs if d / x != skip]
        for f in files:
            p = d / f
            st = p.lstat()
            out[str(p)] = (st.st_size, st.st_mtime_ns)
    return out


def _bad(tmp_path: Path, src: Path, message: str, *extra: str) -> str:
    dest = tmp_path / "dest"
    before = _snapshot(tmp_path, dest)
    code, out = _run("import", src, dest, *extra)
    assert code == 2, out
    errors = [ln for ln in out.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1 and message in errors[0], out
    assert "Traceback" not in out and "internal error" not in out
    assert _snapshot(tmp_path, dest) == before  # nothing written outside DEST
    files = [p for p in dest.rglob("*") if p.is_file()] if dest.exists() else []
    assert files == []  # and nothing left inside it either
    return out


def test_import_coco_output(tmp_path: Path) -> None:
    synth.make_coco(tmp_path / "coco", n=2)
    code, out = _run("import", tmp_path / "coco", tmp_path / "minio")
    assert code == 0, out
    target = tmp_path / "minio" / "datasets" / "1"
    assert out == (
        "format: coco (detected: found annotations/instances.json (COCO keys "
        "images/annotations/categories))\n"
        f"imported 2 images, 6 annotations, 3 labels into {target} (2 hard-linked, 0 copied; "
        "1 renamed to avoid a name collision (annotations/mapping.json))\n"
        "nothing was left out\n"
        f"train on it: MINIO_ROOT={tmp_path / 'minio'} DATASET_ID=1\n")
    code, out = _run("import", tmp_path / "coco", tmp_path / "minio", "--format", "coco")
    assert code == 0 and f"into {tmp_path / 'minio' / 'datasets' / '2'}" in out


def test_coco_without_images(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "labels.json").write_text('{"annotations": [], "categories": []}')
    _bad(tmp_path, tmp_path / "src", "labels.json: not COCO: field 'images' is missing")


@pytest.mark.parametrize(("field", "value", "message"), [
    ("image_id", 999, "annotations[0] (id 1): image_id 999 is not in 'images'"),
    ("category_id", 42, "annotations[0] (id 1): category_id 42 is not in 'categories'"),
])
def test_coco_unknown_reference(tmp_path: Path, field: str, value: int, message: str) -> None:
    doc = synth.make_coco(tmp_path / "src", n=2)
    doc["annotations"][0][field] = value
    (tmp_path / "src" / "annotations" / "instances.json").write_text(json.dumps(doc))
    _bad(tmp_path, tmp_path / "src", message)


def test_coco_path_escaping_src(tmp_path: Path) -> None:
    doc = synth.make_coco(tmp_path / "src", n=2)
    synth.png(tmp_path / "outside.png")
    doc["images"][1]["file_name"] = "../../outside.png"
    (tmp_path / "src" / "annotations" / "instances.json").write_text(json.dumps(doc))
    _bad(tmp_path, tmp_path / "src", "images[1].file_name: path '../../outside.png' escapes "
         "the source folder")


@pytest.mark.parametrize(("line", "message"), [
    ("0 0.5 0.5 0.2", "x0.txt:1: 4 numbers; expected 5 (class cx cy w h)"),
    ("1 0.5 1.5 0.2 0.2", "x0.txt:1: coordinate 1.5 is outside [0, 1]"),
])
def test_yolo_bad_lines(tmp_path: Path, line: str, message: str) -> None:
    synth.make_yolo(tmp_path / "src")
    (tmp_path / "src" / "labels" / "train" / "x0.txt").write_text(line + "\n")
    _bad(tmp_path, tmp_path / "src", message)


def test_yolo_without_class_names(tmp_path: Path) -> None:
    synth.make_yolo(tmp_path / "src")
    (tmp_path / "src" / "data.yaml").unlink()
    out = _bad(tmp_path, tmp_path / "src", "YOLO labels but no class-name file")
    assert "hint: pass the names in order: --classes weed,crop" in out
    code, out = _run("import", tmp_path / "src", tmp_path / "dest", "--classes", "weed,crop")
    assert code == 0, out


def test_voc_missing_size_reads_the_image_header(tmp_path: Path) -> None:
    synth.make_voc(tmp_path / "src", n=2)
    (tmp_path / "src" / "Annotations" / "0001.xml").write_text(
        synth.voc_xml("0001.png", [("cat", (1, 2, 3, 4), {})], size=False))
    code, out = _run("import", tmp_path / "src", tmp_path / "dest")
    assert code == 0, out
    xml = (tmp_path / "dest" / "datasets" / "1" / "annotations" / "annotations.xml").read_text()
    assert f'name="0001.png" width="{synth.W}" height="{synth.H}"' in xml


def test_voc_missing_size_and_unreadable_image(tmp_path: Path) -> None:
    synth.make_voc(tmp_path / "src", n=2)
    (tmp_path / "src" / "Annotations" / "0001.xml").write_text(
        synth.voc_xml("0001.png", [("cat", (1, 2, 3, 4), {})], size=False))
    (tmp_path / "src" / "JPEGImages" / "0001.png").write_bytes(b"not a png")
    _bad(tmp_path, tmp_path / "src",
         "Annotations/0001.xml: no <size>, and the image: 0001.png is not a readable image")


def test_symlink_loop(tmp_path: Path) -> None:
    synth.make_imagefolder(tmp_path / "src")
    os.symlink("loop.png", tmp_path / "src" / "train" / "rose" / "loop.png")
    out = _bad(tmp_path, tmp_path / "src", "train/rose/loop.png: ")
    assert "loop.png is a symbolic link loop" in out


def test_src_equals_dest(tmp_path: Path) -> None:
    synth.make_imagefolder(tmp_path / "src")
    before = _snapshot(tmp_path, tmp_path / "nothing")
    code, out = _run("import", tmp_path / "src", tmp_path / "src" / ".." / "src")
    assert code == 2 and out.startswith("error: SRC and DEST are the same folder"), out
    assert _snapshot(tmp_path, tmp_path / "nothing") == before


def test_existing_dataset_needs_force_and_user_files_survive(tmp_path: Path) -> None:
    synth.make_imagefolder(tmp_path / "src")
    target = tmp_path / "dest" / "datasets" / "1"
    target.mkdir(parents=True)
    (target / "mine.txt").write_text("user data")
    code, out = _run("import", tmp_path / "src", tmp_path / "dest", "--id", "1")
    assert code == 2 and f"error: {target}: exists and is not empty; pass --force" in out
    assert sorted(p.name for p in target.iterdir()) == ["mine.txt"]
    code, out = _run("import", tmp_path / "src", tmp_path / "dest", "--id", "1", "--force")
    assert code == 0, out
    kept = tmp_path / "dest" / "datasets" / ".1.replaced"
    assert (kept / "mine.txt").read_text() == "user data"
    assert f"kept as {kept}" in out
    # a second --force replaces tc's own import entirely (nothing of the user's in it)
    code, out = _run("import", tmp_path / "src", tmp_path / "dest", "--id", "1", "--force")
    assert code == 0 and "kept as" not in out
    assert not (tmp_path / "dest" / "datasets" / ".1.replaced-2").exists()
    assert (kept / "mine.txt").exists()


def test_corrupt_image_with_decode(tmp_path: Path) -> None:
    synth.make_imagefolder(tmp_path / "src")
    bad = tmp_path / "src" / "train" / "rose" / "0.png"
    bad.write_bytes(bad.read_bytes()[:60])
    out = _bad(tmp_path, tmp_path / "src", f"{bad}: corrupt image (", "--decode")
    # inspect --decode finds it too (exit 2, the table still printed)
    code, out = _run("inspect", tmp_path / "src", "--decode")
    assert code == 2 and "corrupt images (do not decode)" in out


def test_inspect_platform_layout_json_and_problems(tmp_path: Path) -> None:
    from tcli.datasets.demo import write_demo_dataset

    d = write_demo_dataset(tmp_path / "minio", "detection", images=6, seed=3)
    xml = (d / "annotations" / "annotations.xml").read_text()
    xml = xml.replace("<labels>", "<labels><label><name>unused</name></label>", 1)
    (d / "annotations" / "annotations.xml").write_text(xml)
    synth.png(d / "extra.png")
    (d / "demo_0000.png").unlink()
    code, out = _run("inspect", tmp_path / "minio", "--json")
    assert code == 0, out
    doc = json.loads(out)
    assert doc["layout"] == "platform" and doc["images"] == 5
    kinds = {p["kind"]: p for p in doc["problems"]}
    assert kinds["annotations without files"]["examples"] == ["demo_0000.png"]
    assert kinds["files without annotations (not referenced)"]["examples"] == ["extra.png"]
    assert kinds["declared but unused labels"]["examples"] == ["unused"]


def test_inspect_report_writes_pngs(tmp_path: Path) -> None:
    from PIL import Image

    synth.make_coco(tmp_path / "coco", n=4)
    code, out = _run("inspect", tmp_path / "coco", "--report", tmp_path / "rep")
    assert code == 0, out
    assert "labels" in out and "weed" in out
    for name in ("classes.png", "box_sizes.png", "samples.png"):
        with Image.open(tmp_path / "rep" / name) as im:
            assert im.width > 300
    html = (tmp_path / "rep" / "index.html").read_text()
    assert all(f'src="{n}"' in html for n in ("classes.png", "box_sizes.png", "samples.png"))


def test_inspect_table_output(tmp_path: Path) -> None:
    synth.make_voc(tmp_path / "voc", n=2)
    # the synthetic images are near duplicates: that table is another test's
    code, out = _run("inspect", tmp_path / "voc", "--no-duplicates")
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0] == f"{tmp_path / 'voc'} (voc, source layout): 2 images, 4 annotations (4 box)"
    assert lines[1] == "format voc: found Annotations/0000.xml (<annotation> root: Pascal VOC)"
    assert lines[2] == "labels"
    assert "│ cat    │           1 │      1 │" in lines
    assert "│ person │           2 │      2 │" in lines
    assert ("│     2 │ classes too small for a stratified split (< 2 images) │ cat: 1; dog: 1 │"
            in lines)


def test_cvat_with_doctype_is_refused(tmp_path: Path) -> None:
    xml = synth.make_cvat(tmp_path / "src")
    evil = xml.replace('<?xml version="1.0" encoding="utf-8"?>\n',
                       '<?xml version="1.0"?>\n<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n')
    (tmp_path / "src" / "annotations.xml").write_text(evil)
    _bad(tmp_path, tmp_path / "src", "annotations.xml: has a DOCTYPE/ENTITY declaration; refused")


def test_import_prints_subsets_and_what_was_left_out(tmp_path: Path) -> None:
    src = tmp_path / "rf"
    for split in ("train", "valid"):
        synth.png(src / split / "a.png")
        doc = {"images": [{"id": 1, "file_name": "a.png", "width": synth.W, "height": synth.H}],
               "categories": [{"id": 0, "name": "cells", "supercategory": "none"},
                              {"id": 1, "name": "RBC", "supercategory": "cells"}],
               "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4]},
                               {"id": 2, "image_id": 1, "category_id": 1,
                                "bbox": [float("nan"), 2, 3, 4]}]}
        (src / split / "_annotations.coco.json").write_text(json.dumps(doc))
    code, out = _run("import", src, tmp_path / "minio")
    assert code == 0, out
    target = tmp_path / "minio" / "datasets" / "1"
    assert out == (
        "format: coco (detected: found train/_annotations.coco.json (COCO keys "
        "images/annotations/categories))\n"
        f"imported 2 images, 2 annotations, 1 labels into {target} (2 hard-linked, 0 copied; "
        "1 renamed to avoid a name collision (annotations/mapping.json))\n"
        "subsets (the source's split, as CVAT subsets): train 1, valid 1\n"
        "not carried into CVAT (annotations/import-report.json):\n"
        "        2  annotations with NaN, infinite, negative-size or huge (> 1e6 px) numbers "
        "(refused)  e.g. id 2: bbox [nan, 2, 3, 4], id 2: bbox [nan, 2, 3, 4]\n"
        "        4  category supercategory (not carried)  e.g. cells: none, RBC: cells, "
        "cells: none\n"
        "        1  placeholder super-categories (no annotations; only the parent of other "
        "categories): not a class  e.g. cells\n"
        f"train on it: MINIO_ROOT={tmp_path / 'minio'} DATASET_ID=1\n")


def test_panoptic_is_one_line(tmp_path: Path) -> None:
    src = tmp_path / "src"
    synth.png(src / "val2017" / "a.png")
    (src / "annotations").mkdir()
    (src / "annotations" / "panoptic_val2017.json").write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a.png"}], "categories": [{"id": 1, "name": "x"}],
        "annotations": [{"image_id": 1, "file_name": "a.png", "segments_info": []}]}))
    _bad(tmp_path, src, "panoptic_val2017.json: panoptic is not supported")


def test_panoptic_beside_instances_is_reported(tmp_path: Path) -> None:
    src = tmp_path / "src"
    synth.png(src / "val2017" / "a.png")
    doc = {"images": [{"id": 1, "file_name": "a.png", "width": synth.W, "height": synth.H}],
           "categories": [{"id": 1, "name": "x"}]}
    (src / "annotations").mkdir()
    (src / "annotations" / "panoptic_val2017.json").write_text(json.dumps({
        **doc, "annotations": [{"image_id": 1, "file_name": "a.png", "segments_info": []}]}))
    (src / "annotations" / "instances_val2017.json").write_text(json.dumps({
        **doc, "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4]}]}))
    code, out = _run("import", src, tmp_path / "minio")
    assert code == 0, out
    assert "imported 1 images, 1 annotations, 1 labels" in out
    assert ("not carried into CVAT (annotations/import-report.json):\n"
            "        1  COCO panoptic files (ignored: panoptic is not supported; its PNG segment "
            "maps are not carried)  e.g. annotations/panoptic_val2017.json\n") in out


def test_nothing_usable_is_one_line(tmp_path: Path) -> None:
    src = tmp_path / "src"
    synth.png(src / "pics" / "a.png")
    (src / "txt").mkdir()
    (src / "txt" / "a.txt").write_text("0 0.5 0.5 0.25 0.5\n")
    (src / "classes.txt").write_text("weed\n")
    _bad(tmp_path, src, "nothing usable to import: none of the 1 annotations in the source "
         "could be carried; 1 label files without an image (left out) (e.g. txt/a.txt)")


def test_undetectable_source_says_what_it_looked_for(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "README.md").write_text("hello")
    out = _bad(tmp_path, src, "cannot tell the dataset format: looked for a CVAT XML")
    assert "; found 0 images, 0 .json, 0 .xml, 0 .txt of 1 files" in out


def test_inspect_json_states_the_detection(tmp_path: Path) -> None:
    synth.make_voc(tmp_path / "voc", n=2)
    code, out = _run("inspect", tmp_path / "voc", "--json")
    assert code == 0, out
    assert json.loads(out)["detected"] == "found Annotations/0000.xml (<annotation> root: " \
        "Pascal VOC)"
