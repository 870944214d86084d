"""Which format a source is, and why (``--format auto``).

The reason names the file that decided it; when nothing fits, the error says what was looked
for and what was found (counts of images, .json, .xml and .txt files).
"""

from __future__ import annotations

from pathlib import Path

from tcli.contract import ANNOTATIONS_XML
from tcli.errors import InputError

from .fsutil import is_image_name, walk_rels, xml_root_tag

LOOKED_FOR = ("a CVAT XML (<annotations> root: annotations.xml or any *.xml at the top or in "
              "annotations/), a COCO .json (images/annotations/categories), a Pascal VOC .xml "
              "(<annotation> root), YOLO labels (images/ + labels/ .txt, or a class file: "
              "data.yaml, classes.txt, obj.names, obj.data, _darknet.labels) or <class>/ "
              "folders of images")


def detect(src: Path, skip: Path | None = None) -> tuple[str, str]:
    """(format, reason). Order: CVAT XML, COCO JSON, VOC XML, YOLO txt, ImageFolder."""
    from .coco import looks_like_coco
    from .cvat import find_xml
    from .imagefolder import class_depth, in_class_folders
    from .voc import is_voc_xml
    from .yolo import find_class_file, pair_labels

    if src.is_file():
        if src.suffix.lower() == ".json":
            return "coco", f"{src.name} is a JSON file"
        raise InputError(f"{src}: SRC is a file; give the dataset folder (or a COCO .json)")
    xml = find_xml(src)
    if xml is not None and xml_root_tag(xml) in ("annotations", None if
                                                 xml.name == ANNOTATIONS_XML else ""):
        return "cvat", f"found {xml.relative_to(src).as_posix()} (<annotations> root: CVAT)"
    files = list(walk_rels(src, skip))
    jsons = [r for r in files if r.endswith(".json")]
    from .coco_layout import kind_of

    # a file that will be imported names the format, not a captions/panoptic one
    for r in sorted(jsons, key=lambda r: kind_of(Path(r)) in ("captions_", "panoptic_")):
        if looks_like_coco(src / r):
            return "coco", f"found {r} (COCO keys images/annotations/categories)"
    xmls = [r for r in files if r.lower().endswith(".xml")]
    for r in xmls:
        if is_voc_xml(src / r):
            return "voc", f"found {r} (<annotation> root: Pascal VOC)"
    txts = {r for r in files if r.endswith(".txt")}
    images = [r for r in files if is_image_name(r)]
    paired = pair_labels(images, txts)
    class_file = find_class_file(src, files)
    if paired or class_file is not None:
        if paired:
            img, lab = next(iter(paired.items()))
            why = f"{img} has labels in {lab}"
        else:
            why = f"found the YOLO class file {class_file}"
        return "yolo", why
    if images:  # torchvision's rule: images outside a class folder are not samples
        inside, outside = in_class_folders(images, class_depth(src, skip))
        if inside:
            return "imagefolder", (f"{inside} images in <class>/ folders, {outside} outside "
                                   "them (not samples)" if outside else
                                   "every image is in a <class>/ folder")
    found = (f"{len(images)} images, {len(jsons)} .json, {len(xmls)} .xml, {len(txts)} .txt "
             f"of {len(files)} files")
    raise InputError(f"{src}: cannot tell the dataset format: looked for {LOOKED_FOR}; found "
                     f"{found}", hint="pass --format coco|yolo|voc|imagefolder|cvat")
