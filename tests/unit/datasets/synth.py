"""Small synthetic source datasets in each format (PIL images made here, nothing downloaded)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from tests.cvat import cvat_xml, image

W, H = 64, 48


def png(path: Path, w: int = W, h: int = H, shade: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (w, h), (shade * 37 % 255, 90, 140)).save(path)
    return path


def disk_mask(h: int, w: int, cx: int, cy: int, r: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return (((xx - cx) ** 2 + (yy - cy) ** 2) <= r * r).astype(np.uint8)


def make_coco(root: Path, n: int = 6) -> dict[str, Any]:
    """Images in two folders with colliding names; categories with gaps in their ids, not in
    alphabetical order; fractional boxes, polygons, compressed and uncompressed RLE masks,
    CVAT-style attributes."""
    from pycocotools import mask as mask_util

    images, anns = [], []
    cats = [{"id": 7, "name": "weed", "supercategory": ""},
            {"id": 2, "name": "crop", "supercategory": ""},
            {"id": 5, "name": "stone", "supercategory": ""}]
    aid = 1
    for i in range(n):
        folder = "a" if i % 2 == 0 else "b"
        fname = f"{folder}/img{i // 2}.png"
        png(root / "images" / fname, shade=i)
        images.append({"id": 100 + i, "file_name": fname, "width": W, "height": H})
        anns.append({"id": aid, "image_id": 100 + i, "category_id": (7, 2, 5)[i % 3],
                     "bbox": [1.25 + i, 2.125, 10.3333, 7.777], "area": 80.0, "iscrowd": 0,
                     "segmentation": [],
                     "attributes": {"occluded": i % 2 == 1, "colour": f"c{i}"}})
        aid += 1
        anns.append({"id": aid, "image_id": 100 + i, "category_id": 2, "iscrowd": 0,
                     "segmentation": [[30.5, 4.25, 50.0, 6.0, 44.75, 20.5, 31.0, 18.0]],
                     "bbox": [30.5, 4.25, 19.5, 16.25], "area": 200.0})
        aid += 1
        m = disk_mask(H, W, 20 + i, 30, 6 + i % 3)
        rle = mask_util.encode(np.asfortranarray(m))
        if i % 2:
            seg: Any = {"size": [H, W], "counts": rle["counts"].decode("ascii")}
        else:  # uncompressed, as CVAT's COCO export writes it
            flat = m.flatten(order="F")
            change = np.flatnonzero(np.diff(flat)) + 1
            runs = np.diff(np.concatenate(([0], change, [flat.size]))).tolist()
            seg = {"size": [H, W], "counts": ([0] if flat[0] else []) + runs}
        anns.append({"id": aid, "image_id": 100 + i, "category_id": 5, "iscrowd": 1,
                     "segmentation": seg, "bbox": [0, 0, 1, 1], "area": float(m.sum())})
        aid += 1
    doc = {"images": images, "annotations": anns, "categories": cats}
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    (root / "annotations" / "instances.json").write_text(json.dumps(doc))
    return doc


def make_yolo(root: Path) -> dict[str, list[str]]:
    """images/{train,val}/x.png + labels/{train,val}/x.txt (same stem in both splits),
    data.yaml; boxes and polygons."""
    (root).mkdir(parents=True, exist_ok=True)
    (root / "data.yaml").write_text("path: .\ntrain: images/train\nval: images/val\n"
                                    "names:\n  0: weed\n  1: crop\n")
    lines: dict[str, list[str]] = {}
    for split, k in (("train", 3), ("val", 2)):
        for i in range(k):
            png(root / "images" / split / f"x{i}.png", shade=i)
            rows = [f"{i % 2} 0.25 0.5 0.125 0.2",
                    f"{(i + 1) % 2} 0.5 0.1 0.75 0.15 0.6 0.6 0.45 0.5"]
            if i == 1:
                rows = []  # a negative: the label file is empty
            lab = root / "labels" / split / f"x{i}.txt"
            lab.parent.mkdir(parents=True, exist_ok=True)
            lab.write_text("".join(r + "\n" for r in rows))
            lines[f"images/{split}/x{i}.png"] = rows
    return lines


def voc_xml(fname: str, objects: list[tuple[str, tuple[float, ...], dict[str, str]]],
            size: bool = True) -> str:
    objs = "".join(
        f"<object><name>{n}</name>" + "".join(f"<{k}>{v}</{k}>" for k, v in extra.items())
        + f"<bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin><xmax>{b[2]}</xmax>"
          f"<ymax>{b[3]}</ymax></bndbox></object>"
        for n, b, extra in objects)
    sz = f"<size><width>{W}</width><height>{H}</height><depth>3</depth></size>" if size else ""
    return (f"<annotation><folder>VOC</folder><filename>{fname}</filename>{sz}"
            f"<segmented>0</segmented>{objs}</annotation>")


def make_voc(root: Path, n: int = 4) -> dict[str, list[tuple[str, tuple[float, ...]]]]:
    out = {}
    (root / "Annotations").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        png(root / "JPEGImages" / f"{i:04d}.png", shade=i)
        objs = [("dog" if i % 2 else "cat", (3.5, 4.0, 20.25, 30.0),
                 {"pose": "Left", "truncated": "0", "difficult": str(i % 2)}),
                ("person", (30.0, 10.0, 60.0, 47.0), {"occluded": "1"})]
        (root / "Annotations" / f"{i:04d}.xml").write_text(voc_xml(f"{i:04d}.png", objs))
        out[f"JPEGImages/{i:04d}.png"] = [(o[0], o[1]) for o in objs]
    return out


def make_imagefolder(root: Path) -> dict[str, str]:
    out = {}
    for split, k in (("train", 3), ("val", 2)):
        for cls in ("tulip", "daisy", "rose"):
            for i in range(k):
                rel = f"{split}/{cls}/{i}.png"
                png(root / rel, shade=i)
                out[rel] = cls
    return out


def make_cvat(root: Path) -> str:
    """A CVAT export folder: annotations.xml + images/ with folders in the names."""
    images = []
    for i in range(4):
        name = f"user/{i % 2}/p{i // 2}.png"
        png(root / "images" / name, shade=i)
        images.append(image(
            i, name,
            f'<box label="weed" source="manual" occluded="{i % 2}" xtl="1.5" ytl="2.25" '
            f'xbr="11.75" ybr="12" z_order="1"><attribute name="kind">k{i}</attribute></box>'
            f'<polygon label="crop" source="manual" occluded="0" points="30,4;50,6;44.5,20.25" '
            f'z_order="0"></polygon>'
            f'<mask label="crop" source="manual" occluded="0" rle="1, 2, 3, 3" left="5" '
            f'top="30" width="3" height="3" z_order="0"></mask>'
            f'<skeleton label="weed"><points label="tip" points="1,1"/></skeleton>', w=W, h=H))
    xml = cvat_xml(images, ("crop", "weed"), task_id=9, attributes={"weed": ["kind"]}, color=None)
    (root / "annotations.xml").write_text(xml)
    return xml
