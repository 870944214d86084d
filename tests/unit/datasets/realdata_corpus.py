"""The real-data corpus (tests/fixtures/realdata/): each entry's format, how the independent
readers of realdata.py read it (the layout written down by hand), and the shape of the right
answer (a refusal, or more carried than the reader counts)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .realdata import ROOT, read_coco, read_cvat_xml, read_imagefolder, read_voc, read_yolo, yaml_names


@dataclass
class Entry:
    """One corpus dataset: its format, how the independent reader reads it, and the right
    answer's shape: ``refusal`` (words the one-line exit-2 message must hold, beyond the file's
    path) for what is genuinely unsupported, ``superset`` where tc may carry more than the
    reader counts, ``import_ok`` False for what is only inspected."""

    name: str
    fmt: str
    read: Any  # () -> Dataset
    refusal: tuple[str, ...] | None = None
    superset: bool = False
    import_ok: bool = True

    @property
    def path(self) -> Path:
        return ROOT / self.name


def _coco(name: str, files: list[tuple[str, str, str | None]]) -> Any:
    return lambda: read_coco(ROOT / name, files)


def _coco_pair(name: str, prefix: str, img: str = "images/{}") -> Any:
    return _coco(name, [(f"annotations/{prefix}_{s}.json", img.format(s), s)
                        for s in ("train", "val")])


def _names(path: Path) -> list[str]:
    return [n for n in path.read_text().splitlines() if n.strip()]


_E = [
    Entry("datumaro_coco_instances", "coco", _coco_pair("datumaro_coco_instances", "instances")),
    Entry("datumaro_coco_roboflow", "coco", _coco("datumaro_coco_roboflow", [
        (f"{s}/_annotations.coco.json", s, s) for s in ("train", "val")])),
    Entry("datumaro_mmdet_coco", "coco", _coco_pair("datumaro_mmdet_coco", "instances", "{}")),
    Entry("datumaro_coco_person_keypoints", "coco",
          _coco_pair("datumaro_coco_person_keypoints", "person_keypoints")),
    Entry("datumaro_coco_stuff", "coco", _coco_pair("datumaro_coco_stuff", "stuff")),
    Entry("datumaro_coco_labels", "coco", _coco_pair("datumaro_coco_labels", "labels")),
    # image_info_*.json lists images without annotations: inspect only (an import that
    # carries nothing usable fails)
    Entry("datumaro_coco_image_info", "coco", _coco_pair("datumaro_coco_image_info", "image_info"),
          import_ok=False),
    Entry("datumaro_coco_captions", "coco", lambda: {}, refusal=("caption",)),
    Entry("datumaro_coco_panoptic", "coco", lambda: {}, refusal=("panoptic",)),
    # the full official annotations folder: instances, person_keypoints, stuff, labels,
    # image_info, captions, panoptic side by side; at least every instance is carried
    Entry("datumaro_coco", "coco", _coco_pair("datumaro_coco", "instances"), superset=True),
    # real COCO 2017 annotations (multi-part polygons, crowd RLE), blank images
    Entry("coco2017_tiny", "coco", _coco("coco2017_tiny", [
        (f"annotations/instances_{s}2017.json", f"images/{s}2017", f"{s}2017") for s in ("train", "val")])),
    # a real Roboflow COCO export (one split), its placeholder category included; blank images
    Entry("roboflow_weeds_coco", "coco", _coco("roboflow_weeds_coco", [
        ("test/_annotations.coco.json", "test", "test")])),
    Entry("datumaro_roboflow_coco", "coco", _coco("datumaro_roboflow_coco", [
        (f"{s}/_annotations.coco.json", s, s) for s in ("train", "val")])),
    Entry("datumaro_cvat_export_task", "cvat", lambda: read_cvat_xml(
        ROOT / "datumaro_cvat_export_task" / "train.xml", lambda n, _s: f"images/{n}")),
    # a real CVAT 1.1 job file with 273 masks (short RLE, an '&' in a file name); blank images
    Entry("cgras_cvat_masks", "cvat", lambda: read_cvat_xml(
        ROOT / "cgras_cvat_masks" / "annotations.xml", lambda n, _s: f"images/{n}")),
    Entry("datumaro_cvat_export_project", "cvat", lambda: read_cvat_xml(
        ROOT / "datumaro_cvat_export_project" / "annotations.xml",
        lambda n, s: f"images/{s}/{n}")),
    Entry("datumaro_voc_dataset1", "voc", lambda: read_voc(
        ROOT / "datumaro_voc_dataset1", [("Annotations", "JPEGImages", None)])),
    Entry("datumaro_voc_dataset3", "voc", lambda: read_voc(
        ROOT / "datumaro_voc_dataset3", [("Annotations", "JPEGImages", None)])),
    # annotations without <size> and without any image: nothing to import
    Entry("datumaro_voc_dataset2", "voc", lambda: {}, refusal=()),
    Entry("datumaro_roboflow_voc", "voc", lambda: read_voc(
        ROOT / "datumaro_roboflow_voc", [(s, None, s) for s in ("train", "val")])),
    Entry("datumaro_yolo_annotations", "yolo", lambda: read_yolo(
        ROOT / "datumaro_yolo_annotations", [("Images", "Annotations", None)],
        _names(ROOT / "datumaro_yolo_annotations" / "obj.names"))),
    Entry("datumaro_yolo_labels", "yolo", lambda: read_yolo(
        ROOT / "datumaro_yolo_labels", [(f"images/{s}", f"labels/{s}", s) for s in ("train", "val")],
        _names(ROOT / "datumaro_yolo_labels" / "obj.names"))),
    Entry("datumaro_yolo_strict", "yolo", lambda: read_yolo(
        ROOT / "datumaro_yolo_strict", [("obj_train_data", "obj_train_data", "train")],
        _names(ROOT / "datumaro_yolo_strict" / "obj.names"))),
    Entry("datumaro_roboflow_yolo", "yolo", lambda: read_yolo(
        ROOT / "datumaro_roboflow_yolo", [(f"{s}/images", f"{s}/labels", s) for s in ("train", "val")],
        yaml_names(ROOT / "datumaro_roboflow_yolo" / "data.yaml"))),
    Entry("datumaro_imagenet", "imagefolder", lambda: read_imagefolder(
        ROOT / "datumaro_imagenet", [("", None)])),
    Entry("datumaro_imagenet_subsets", "imagefolder", lambda: read_imagefolder(
        ROOT / "datumaro_imagenet_subsets", [(s, s) for s in ("train", "val", "test")])),
]
CORPUS: dict[str, Entry] = {e.name: e for e in _E}
