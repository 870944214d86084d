"""Every layout the formats' own tools write (issue 21): COCO one-split and official folders,
CVAT project/task exports, Ultralytics/Roboflow/darknet YOLO, VOC without <size>, and the
source's split kept as CVAT subsets. Small real-format examples are built here."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from tcli.datasets.importer import import_dataset
from tcli.datasets.inspect import inspect
from tcli.errors import InputError
from tests.unit.datasets import synth

pytestmark = pytest.mark.unit


def parsed(minio: Path, n: int = 1) -> dict[str, dict[str, Any]]:
    """source path -> {subset, shapes: [(kind, label, numbers)]} of an imported dataset."""
    ann = minio / "datasets" / str(n) / "annotations"
    files = json.loads((ann / "mapping.json").read_text())["files"]
    out = {}
    for im in etree.parse(str(ann / "annotations.xml")).getroot().iter("image"):
        shapes = []
        for s in im:
            nums = [float(s.get(k)) for k in ("xtl", "ytl", "xbr", "ybr") if s.get(k)]
            if s.get("points"):
                nums = [float(v) for p in s.get("points").split(";") for v in p.split(",")]
            shapes.append((s.tag, s.get("label"), nums))
        out[files[im.get("name")]] = {"subset": im.get("subset"), "shapes": shapes,
                                      "size": (int(im.get("width")), int(im.get("height")))}
    return out


def report(minio: Path, n: int = 1) -> dict[str, Any]:
    ann = minio / "datasets" / str(n) / "annotations" / "import-report.json"
    return json.loads(ann.read_text())  # type: ignore[no-any-return]


def coco_doc(names: list[str], cats: list[dict[str, Any]] | None = None,
             anns: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    images = [{"id": i + 1, "file_name": n, "width": synth.W, "height": synth.H}
              for i, n in enumerate(names)]
    if anns is None:
        anns = [{"id": i + 1, "image_id": i + 1, "category_id": 1, "bbox": [1, 2, 10, 5],
                 "area": 50, "iscrowd": 0} for i in range(len(names))]
    return {"images": images, "annotations": anns,
            "categories": cats or [{"id": 1, "name": "weed", "supercategory": ""}]}


def write(path: Path, doc: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return path


# ---- COCO ------------------------------------------------------------------------------------

def test_coco_one_split_images_train(tmp_path: Path) -> None:
    src = tmp_path / "src"
    for n in ("a.png", "b.png"):
        synth.png(src / "images" / "train" / n)
    write(src / "annotations" / "instances_train.json", coco_doc(["a.png", "b.png"]))
    res = import_dataset(src, tmp_path / "minio")
    assert (res.images, res.shapes, res.subsets) == (2, 2, {"train": 2})
    got = parsed(tmp_path / "minio")
    assert got["images/train/a.png"] == {"subset": "train", "size": (64, 48),
                                         "shapes": [("box", "weed", [1, 2, 11, 7])]}


def official(src: Path) -> None:
    """COCO 2017's layout: annotations/{instances,person_keypoints,captions}_{train,val}2017
    beside train2017/ and val2017/."""
    for split in ("train2017", "val2017"):
        synth.png(src / split / "000000000001.jpg".replace(".jpg", ".png"))
        synth.png(src / split / "000000000002.png")
        names = ["000000000001.png", "000000000002.png"]
        write(src / "annotations" / f"instances_{split}.json", coco_doc(names))
        kp = coco_doc(names, [{"id": 1, "name": "weed", "supercategory": "",
                               "keypoints": ["tip"], "skeleton": []}])
        for a in kp["annotations"]:
            a.update(keypoints=[3, 4, 2], num_keypoints=1)
        write(src / "annotations" / f"person_keypoints_{split}.json", kp)
        write(src / "annotations" / f"captions_{split}.json",
              {"images": kp["images"], "annotations": [{"id": 1, "image_id": 1,
                                                         "caption": "a weed"}]})


def test_coco_official_folder(tmp_path: Path) -> None:
    src = tmp_path / "coco"
    official(src)
    res = import_dataset(src, tmp_path / "minio")
    assert (res.images, res.shapes) == (4, 4)
    assert res.subsets == {"train2017": 2, "val2017": 2}
    got = parsed(tmp_path / "minio")
    assert got["val2017/000000000002.png"]["subset"] == "val2017"
    assert res.losses["COCO captions files (ignored: captions are not annotations CVAT trains "
                      "on)"]["count"] == 2
    key = ("COCO files for a subset already imported (ignored; import one on its own to get "
           "its annotations)")
    assert res.losses[key]["examples"][0] == ("annotations/person_keypoints_train2017.json "
                                              "(same images as "
                                              "annotations/instances_train2017.json)")


def test_coco_json_given_directly(tmp_path: Path) -> None:
    src = tmp_path / "coco"
    official(src)
    res = import_dataset(src / "annotations" / "instances_val2017.json", tmp_path / "minio")
    assert (res.images, res.shapes, res.subsets) == (2, 2, {"val2017": 2})


def test_coco_keypoints_alone_keep_boxes_and_report_keypoints(tmp_path: Path) -> None:
    src = tmp_path / "coco"
    official(src)
    for p in (src / "annotations").glob("[ic]*.json"):
        p.unlink()
    res = import_dataset(src, tmp_path / "minio")
    assert (res.images, res.shapes) == (4, 4)
    assert res.losses["annotation field 'keypoints' (not carried)"]["count"] == 4
    assert res.losses["category field 'keypoints' (not carried)"]["count"] == 2


def test_coco_image_info_is_images_only(tmp_path: Path) -> None:
    src = tmp_path / "coco"
    synth.png(src / "test2017" / "x.png")
    doc = coco_doc(["x.png"])
    del doc["annotations"]
    write(src / "annotations" / "image_info_test2017.json", doc)
    res = import_dataset(src, tmp_path / "minio")
    assert (res.images, res.shapes, res.subsets) == (1, 0, {"test2017": 1})


def test_coco_flat_images_folder(tmp_path: Path) -> None:
    src = tmp_path / "coco"
    synth.png(src / "images" / "a.png")
    write(src / "coco.json", coco_doc(["a.png"]))
    res = import_dataset(src, tmp_path / "minio")
    assert (res.images, res.shapes, res.subsets) == (1, 1, {None: 1})


def test_coco_panoptic_is_one_clear_refusal(tmp_path: Path) -> None:
    src = tmp_path / "coco"
    synth.png(src / "val2017" / "a.png")
    doc = coco_doc(["a.png"], anns=[{"image_id": 1, "file_name": "a.png",
                                     "segments_info": [{"id": 5, "category_id": 1}]}])
    write(src / "annotations" / "panoptic_val2017.json", doc)
    with pytest.raises(InputError, match="panoptic is not supported"):
        import_dataset(src, tmp_path / "minio")
    # recognised by its content too (segments_info), under any name
    os.rename(src / "annotations" / "panoptic_val2017.json", src / "annotations" / "pan.json")
    os.rename(src / "val2017", src / "images")
    with pytest.raises(InputError, match="panoptic is not supported"):
        import_dataset(src, tmp_path / "minio")


def test_coco_panoptic_beside_instances_is_reported_not_refused(tmp_path: Path) -> None:
    """The official annotations/ folder after unzipping the instance and the panoptic archives
    into it: the instances are imported, the panoptic files reported as not carried."""
    src = tmp_path / "coco"
    official(src)
    for split in ("train2017", "val2017"):
        pan = coco_doc(["000000000001.png"], anns=[
            {"image_id": 1, "file_name": "000000000001.png",
             "segments_info": [{"id": 5, "category_id": 1}]}])
        write(src / "annotations" / f"panoptic_{split}.json", pan)
        synth.png(src / "annotations" / f"panoptic_{split}" / "000000000001.png")
    res = import_dataset(src, tmp_path / "minio")
    assert (res.images, res.shapes, res.subsets) == (4, 4, {"train2017": 2, "val2017": 2})
    key = ("COCO panoptic files (ignored: panoptic is not supported; its PNG segment maps are "
           "not carried)")
    want = {"count": 2, "examples": ["annotations/panoptic_train2017.json",
                                     "annotations/panoptic_val2017.json"]}
    assert res.losses[key] == want
    assert report(tmp_path / "minio")["not_carried"][key] == want
    # panoptic (with captions) and nothing importable: still the one refusal
    for split in ("train2017", "val2017"):
        for kind in ("instances", "person_keypoints"):
            os.remove(src / "annotations" / f"{kind}_{split}.json")
    with pytest.raises(InputError, match="panoptic is not supported"):
        import_dataset(src, tmp_path / "minio2")


def test_coco_image_level_labels_become_tags(tmp_path: Path) -> None:
    src = tmp_path / "coco"
    synth.png(src / "images" / "a.png")
    cats = [{"id": 1, "name": "weed"}, {"id": 2, "name": "sunny"}]
    anns = [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4]},
            {"id": 2, "image_id": 1, "category_id": 2},
            {"id": 3, "image_id": 1, "category_id": 2, "bbox": [], "segmentation": []}]
    write(src / "instances.json", coco_doc(["a.png"], cats, anns))
    res = import_dataset(src, tmp_path / "minio")
    assert res.shapes == 3 and res.losses == {}
    assert parsed(tmp_path / "minio")["images/a.png"]["shapes"] == [
        ("tag", "sunny", []), ("tag", "sunny", []), ("box", "weed", [1, 2, 4, 6])]


def test_coco_roboflow_placeholder_supercategory_is_not_a_class(tmp_path: Path) -> None:
    src = tmp_path / "rf"
    for split in ("train", "valid"):
        synth.png(src / split / "a.png")
        cats = [{"id": 0, "name": "cells", "supercategory": "none"},
                {"id": 1, "name": "Platelets", "supercategory": "cells"},
                {"id": 2, "name": "RBC", "supercategory": "cells"}]
        anns = [{"id": 1, "image_id": 1, "category_id": 2, "bbox": [1, 2, 3, 4]},
                {"id": 2, "image_id": 1, "category_id": 1, "bbox": [5, 6, 3, 4]}]
        write(src / split / "_annotations.coco.json", coco_doc(["a.png"], cats, anns))
    res = import_dataset(src, tmp_path / "minio")
    assert res.labels == ["Platelets", "RBC"]
    assert res.subsets == {"train": 1, "valid": 1}
    assert parsed(tmp_path / "minio")["valid/a.png"]["shapes"] == [
        ("box", "RBC", [1, 2, 4, 6]), ("box", "Platelets", [5, 6, 8, 10])]
    assert "cells" in next(v["examples"] for k, v in res.losses.items()
                           if k.startswith("placeholder super-categories"))


def test_coco_no_images_says_where_it_looked(tmp_path: Path) -> None:
    src = tmp_path / "coco"
    write(src / "annotations" / "instances_train.json", coco_doc(["a.png"]))
    synth.png(src / "pictures" / "a.png")
    with pytest.raises(InputError, match=r"none of its first images \(e.g. 'a.png'\) was "
                       r"found; looked in annotations/, SRC, images/, annotations/images/, "
                       r"train/, images/train/"):
        import_dataset(src, tmp_path / "minio")


def test_coco_one_subset_without_its_images_is_left_out_and_said(tmp_path: Path) -> None:
    src = tmp_path / "coco"
    official(src)
    for p in (src / "train2017").iterdir():
        p.unlink()
    res = import_dataset(src, tmp_path / "minio")
    assert res.subsets == {"val2017": 2}
    ex = res.losses["COCO files whose images are not there (left out)"]["examples"]
    assert ex[0].startswith("instances_train2017.json (looked in annotations/, SRC,")


def test_relative_source_inspects_and_imports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                               ) -> None:
    synth.make_coco(tmp_path / "coco_dataset" / "coco_instances", n=2)
    synth.make_voc(tmp_path / "voc", n=2)
    monkeypatch.chdir(tmp_path / "coco_dataset")
    assert inspect(Path("coco_instances")).images == 2
    monkeypatch.chdir(tmp_path)
    assert inspect(Path("voc")).images == 2
    assert import_dataset(Path("voc"), Path("minio")).images == 2


# ---- CVAT ------------------------------------------------------------------------------------

def cvat_project(src: Path, subsets: dict[str, list[tuple[str, float]]],
                 present: set[str] | None = None, xml_name: str = "annotations.xml") -> None:
    """A CVAT project export: images/<Subset>/<name>, <image name subset>."""
    rows, k = [], 0
    for sub, items in subsets.items():
        for name, x in items:
            if present is None or sub in present:
                synth.png(src / "images" / sub / name)
            rows.append(f'<image id="{k}" name="{name}" subset="{sub}" width="{synth.W}" '
                        f'height="{synth.H}"><box label="weed" source="manual" occluded="0" '
                        f'xtl="{x}" ytl="1" xbr="{x + 5}" ybr="6" z_order="0"/></image>')
            k += 1
    write(src / xml_name, '<?xml version="1.0" encoding="utf-8"?>\n<annotations><version>1.1'
          "</version><meta><project><labels><label><name>weed</name><attributes/></label>"
          "</labels></project></meta>" + "".join(rows) + "</annotations>")


def test_cvat_project_export_same_names_in_several_subsets(tmp_path: Path) -> None:
    src = tmp_path / "proj"
    cvat_project(src, {"Train": [("a.png", 1.0), ("b.png", 2.0)], "Validation": [("a.png", 3.0)]})
    res = import_dataset(src, tmp_path / "minio")
    assert (res.images, res.shapes, res.subsets) == (3, 3, {"Train": 2, "Validation": 1})
    got = parsed(tmp_path / "minio")
    assert got["images/Train/a.png"]["shapes"][0][2][0] == 1.0
    assert got["images/Validation/a.png"]["shapes"][0][2][0] == 3.0
    assert got["images/Validation/a.png"]["subset"] == "Validation"


def test_cvat_project_export_with_one_subset_present(tmp_path: Path) -> None:
    src = tmp_path / "proj"
    cvat_project(src, {"Train": [("a.png", 1.0)], "Validation": [("a.png", 3.0), ("c.png", 4.0)]},
                 present={"Train"})
    res = import_dataset(src, tmp_path / "minio")
    assert (res.images, res.shapes, res.subsets) == (1, 1, {"Train": 1})
    assert parsed(tmp_path / "minio")["images/Train/a.png"]["shapes"][0][2][0] == 1.0
    assert res.losses["annotated images without a file (left out)"]["count"] == 2


def test_cvat_task_export_under_another_name(tmp_path: Path) -> None:
    src = tmp_path / "task"
    cvat_project(src, {"Train": [("a.png", 1.0)]}, xml_name="train.xml")
    res = import_dataset(src, tmp_path / "minio")
    assert res.format == "cvat" and res.detected == "found train.xml (<annotations> root: CVAT)"
    assert (res.images, res.shapes) == (1, 1)


# ---- YOLO ------------------------------------------------------------------------------------

def yolo_pair(src: Path, img: str, lab: str, line: str = "0 0.5 0.5 0.25 0.5") -> None:
    synth.png(src / img)
    write(src / lab, line + "\n")


def test_yolo_images_and_annotations_folders(tmp_path: Path) -> None:
    src = tmp_path / "y"
    yolo_pair(src, "Images/a.png", "Annotations/a.txt")
    write(src / "classes.txt", "weed\n")
    res = import_dataset(src, tmp_path / "minio")
    assert (res.format, res.images, res.shapes) == ("yolo", 1, 1)
    assert parsed(tmp_path / "minio")["Images/a.png"]["shapes"] == [
        ("box", "weed", [24, 12, 40, 36])]


def test_yolo_roboflow_v8_export_keeps_its_split(tmp_path: Path) -> None:
    src = tmp_path / "rf"
    for split in ("train", "valid", "test"):
        yolo_pair(src, f"{split}/images/a.png", f"{split}/labels/a.txt")
    write(src / "data.yaml", "train: ../train/images\nval: ../valid/images\n"
          "test: ../test/images\nnc: 1\nnames: ['weed']\n")
    res = import_dataset(src, tmp_path / "minio")
    assert (res.images, res.shapes) == (3, 3)
    assert res.subsets == {"train": 1, "val": 1, "test": 1}


def test_yolo_ultralytics_path_train_val(tmp_path: Path) -> None:
    src = tmp_path / "u"
    yolo_pair(src, "ds/images/train/a.png", "ds/labels/train/a.txt")
    yolo_pair(src, "ds/images/val/b.png", "ds/labels/val/b.txt")
    write(src / "data.yaml", "path: ds\ntrain: images/train\nval: images/val\n"
          "names:\n  0: weed\n")
    res = import_dataset(src, tmp_path / "minio")
    assert res.subsets == {"train": 1, "val": 1} and res.shapes == 2


def test_yolo_darknet_obj_data(tmp_path: Path) -> None:
    src = tmp_path / "dk"
    yolo_pair(src, "obj_train_data/a.png", "obj_train_data/a.txt")
    write(src / "obj.names", "weed\n")
    write(src / "obj.data", "classes = 1\ntrain = data/train.txt\nnames = data/obj.names\n"
          "backup = backup/\n")
    write(src / "train.txt", "data/obj_train_data/a.png\n")
    res = import_dataset(src, tmp_path / "minio")
    assert (res.format, res.shapes, res.subsets, res.losses) == ("yolo", 1, {"train": 1}, {})


def test_yolo_roboflow_darknet_labels(tmp_path: Path) -> None:
    src = tmp_path / "rfd"
    for split in ("train", "valid"):
        yolo_pair(src, f"{split}/a.png", f"{split}/a.txt", "1 0.5 0.5 0.25 0.5")
        write(src / split / "_darknet.labels", "crop\nweed\n")
    res = import_dataset(src, tmp_path / "minio")
    assert (res.format, res.labels, res.shapes) == ("yolo", ["crop", "weed"], 2)
    assert res.subsets == {"train": 1, "valid": 1}


def test_yolo_labels_that_pair_with_nothing_fail(tmp_path: Path) -> None:
    src = tmp_path / "y"
    synth.png(src / "pics" / "a.png")
    write(src / "txt" / "a.txt", "0 0.5 0.5 0.25 0.5\n")
    write(src / "classes.txt", "weed\n")
    with pytest.raises(InputError, match=r"nothing usable to import: none of the 1 "
                       r"annotations in the source could be carried; 1 label files without "
                       r"an image \(left out\) \(e.g. txt/a.txt\)"):
        import_dataset(src, tmp_path / "minio")
    assert not (tmp_path / "minio").exists()


# ---- VOC, ImageFolder ------------------------------------------------------------------------

def test_voc_image_sets_become_subsets(tmp_path: Path) -> None:
    src = tmp_path / "voc"
    synth.make_voc(src, n=4)
    write(src / "ImageSets" / "Main" / "train.txt", "0000\n0001\n")
    write(src / "ImageSets" / "Main" / "val.txt", "0002\n")
    write(src / "ImageSets" / "Main" / "cat_train.txt", "0000 1\n")
    res = import_dataset(src, tmp_path / "minio")
    assert res.subsets == {"train": 2, "val": 1, None: 1}


def test_imagefolder_train_val_kept(tmp_path: Path) -> None:
    src = tmp_path / "flowers"
    synth.make_imagefolder(src)
    res = import_dataset(src, tmp_path / "minio")
    subs = {v["subset"] for v in parsed(tmp_path / "minio").values()}
    assert subs == set(k for k in res.subsets) == {"train", "val"}


@pytest.mark.parametrize("split", [False, True], ids=["flat", "train-val"])
def test_imagefolder_files_outside_class_folders_are_reported(tmp_path: Path,
                                                               split: bool) -> None:
    """torchvision's ImageFolder rule: files directly in the root (or a split folder) are not
    samples; nested folders belong to their class. Detected, imported, the strays reported."""
    src = tmp_path / "flowers"
    base = src / "train" if split else src
    synth.png(base / "tulip" / "a.png")
    synth.png(base / "rose" / "deep" / "b.png")
    synth.png(base / "stray.png")
    (src / "README.md").write_text("photos")
    res = import_dataset(src, tmp_path / "minio")
    assert res.format == "imagefolder"
    assert res.detected == "2 images in <class>/ folders, 1 outside them (not samples)"
    p = "train/" if split else ""
    got = parsed(tmp_path / "minio")
    assert {k: (v["subset"], v["shapes"]) for k, v in got.items()} == {
        f"{p}tulip/a.png": ("train" if split else None, [("tag", "tulip", [])]),
        f"{p}rose/deep/b.png": ("train" if split else None, [("tag", "rose", [])])}
    left = res.losses["files outside <class>/ folders or not images (left out)"]
    assert sorted(left["examples"]) == sorted(["README.md", f"{p}stray.png"])


def test_voc_roboflow_split_folders_become_subsets(tmp_path: Path) -> None:
    """Roboflow's VOC export: train/ and valid/ with each XML beside its image."""
    src = tmp_path / "rf"
    for split in ("train", "valid"):
        synth.png(src / split / f"{split}_1.png")
        write(src / split / f"{split}_1.xml",
              synth.voc_xml(f"{split}_1.png", [("weed", (1.0, 2.0, 9.0, 8.0), {})]))
    res = import_dataset(src, tmp_path / "minio")
    assert (res.format, res.subsets) == ("voc", {"train": 1, "valid": 1})
    assert parsed(tmp_path / "minio")["valid/valid_1.png"]["subset"] == "valid"
