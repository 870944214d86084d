"""Which format a source is, and why (``--format auto``)."""

from __future__ import annotations

from pathlib import Path

from tcli.errors import InputError

from .fsutil import is_image_name, walk_rels


def detect(src: Path, skip: Path | None = None) -> tuple[str, str]:
    """(format, reason). Order: CVAT XML, COCO JSON, VOC XML, YOLO txt, ImageFolder."""
    from .coco import looks_like_coco
    from .cvat import find_xml
    from .imagefolder import split_layout
    from .voc import is_voc_xml
    from .yolo import CLASS_FILES, YAML_FILES, label_path_for

    if src.is_file():
        if src.suffix.lower() == ".json":
            return "coco", f"{src.name} is a JSON file"
        raise InputError(f"{src}: SRC is a file; give the dataset folder (or a COCO .json)")
    xml = find_xml(src)
    if xml is not None:
        with open(xml, "rb") as fh:
            if b"<annotations" in fh.read(4096):
                return "cvat", f"found {xml.relative_to(src)} (<annotations>)"
    files = list(walk_rels(src, skip))
    jsons = [r for r in files if r.endswith(".json")]
    for r in jsons:
        if looks_like_coco(src / r):
            return "coco", f"found {r} (COCO keys images/annotations/categories)"
    for r in files:
        if r.endswith(".xml") and is_voc_xml(src / r):
            return "voc", f"found {r} (<annotation> root: Pascal VOC)"
    txts = {r for r in files if r.endswith(".txt")}
    images = [r for r in files if is_image_name(r)]
    paired = next((r for r in images if label_path_for(r) in txts), None)
    if paired is not None or any(n in files for n in (*CLASS_FILES, *YAML_FILES)):
        why = (f"{paired} has labels in {label_path_for(paired)}" if paired
               else "found a YOLO class-name file")
        return "yolo", why
    if images:
        depth = 3 if split_layout(src, skip) else 2
        if all(len(r.split("/")) == depth for r in images):
            return "imagefolder", "every image is in a <class>/ folder"
    if jsons:
        return "coco", f"found {jsons[0]} (the only annotation file)"
    raise InputError(f"{src}: cannot tell the dataset format (no annotations.xml, COCO .json, "
                     "VOC .xml, YOLO .txt or <class>/ folders)",
                     hint="pass --format coco|yolo|voc|imagefolder|cvat")
