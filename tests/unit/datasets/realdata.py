"""Independent readers for the real-data corpus (tests/fixtures/realdata/, see PROVENANCE.md there).

Nothing here imports tcli or the runtime: COCO is read with pycocotools, VOC and CVAT with
``xml.etree``, YOLO as plain text (image sizes with PIL), ImageFolder by walking the folders.
Every reader returns the same canonical form, :class:`Image` per source file (path relative to
the dataset root), so that tc's output (``annotations.xml`` + ``mapping.json``, read back with
the same CVAT reader) and the in-image stage's COCO labels can be compared with it.

The layout of each entry (which annotation file goes with which image folder and subset) is
written down by hand in realdata_corpus.py, from the formats' documentation: it is the test's
own knowledge, not what tc detected.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image as PILImage

ROOT = Path(__file__).resolve().parents[2] / "fixtures" / "realdata"
IMAGE_EXT = (".jpg", ".jpeg", ".png", ".bmp")


@dataclass
class Obj:
    """One annotation. ``coords``: box (x1, y1, x2, y2), polygon/polyline/points flat x, y
    list, a mask (x, y) of its first set pixel's row and column (the crop's origin);
    ``mask``: the set pixels cropped to their own box; ``group``: objects with the same non-empty
    group are one object (a multi-part COCO polygon, a CVAT ``group_id``)."""

    kind: str
    label: str
    coords: tuple[float, ...] = ()
    mask: np.ndarray | None = None
    group: str = ""

    def extent(self) -> tuple[float, float, float, float]:
        """(x1, y1, x2, y2): a box as it is, a polygon's vertices, a mask's set pixels."""
        if self.kind == "box":
            x1, y1, x2, y2 = self.coords
            return x1, y1, x2, y2
        if self.kind == "mask":
            assert self.mask is not None
            h, w = self.mask.shape
            return self.coords[0], self.coords[1], self.coords[0] + w, self.coords[1] + h
        xs_, ys_ = self.coords[0::2], self.coords[1::2]
        return min(xs_), min(ys_), max(xs_), max(ys_)


@dataclass
class Image:
    rel: str
    width: int
    height: int
    subset: str | None = None
    objs: list[Obj] = field(default_factory=list)


Dataset = dict[str, Image]


# ----------------------------------------------------------------------------- COCO

def read_coco(root: Path, files: list[tuple[str, str, str | None]]) -> Dataset:
    """``files``: (annotation json, image folder, subset) relative to ``root``."""
    from pycocotools.coco import COCO

    out: Dataset = {}
    for ann_file, img_dir, subset in files:
        coco = COCO(str(root / ann_file))
        cats = {c["id"]: c["name"] for c in coco.dataset.get("categories", [])}
        for img in coco.dataset["images"]:
            rel = f"{img_dir}/{img['file_name']}" if img_dir else img["file_name"]
            im = out[rel] = Image(rel, img["width"], img["height"], subset)
            for a in coco.imgToAnns.get(img["id"], []):
                label = cats[a["category_id"]]
                seg = a.get("segmentation")
                if isinstance(seg, list) and seg:
                    group = f"coco:{a['id']}" if len(seg) > 1 else ""
                    im.objs += [Obj("polygon", label, tuple(map(float, p)), group=group) for p in seg]
                elif isinstance(seg, dict):
                    im.objs.append(tight_mask(label, coco.annToMask(a).astype(bool), 0, 0))
                elif a.get("bbox"):
                    x, y, w, h = map(float, a["bbox"])
                    im.objs.append(Obj("box", label, (x, y, x + w, y + h)))
                else:  # image-level label (no bbox, no segmentation): a CVAT tag
                    im.objs.append(Obj("tag", label))
    return out


# ----------------------------------------------------------------------------- CVAT

def tight_mask(label: str, pixels: np.ndarray, left: int, top: int, group: str = "") -> Obj:
    """A mask object from ``pixels`` placed at (left, top): cropped to its set pixels."""
    ys, xs = np.nonzero(pixels)
    assert len(xs), "an empty mask"
    y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    return Obj("mask", label, (float(left + x0), float(top + y0)),
               np.ascontiguousarray(pixels[y0:y1, x0:x1]), group)


def cvat_mask(el: ET.Element, label: str, group: str) -> Obj:
    """CVAT 1.1 ``<mask>``: runs over its box (row-major), starting with a run of 0s; a
    trailing run of 0s may be left out (CVAT's and datumaro's readers fill it in)."""
    left, top = int(float(el.attrib["left"])), int(float(el.attrib["top"]))
    w, h = int(float(el.attrib["width"])), int(float(el.attrib["height"]))
    runs = [int(x) for x in el.attrib["rle"].replace(" ", "").split(",") if x]
    flat = np.zeros(w * h, dtype=bool)
    pos = 0
    for i, n in enumerate(runs):
        if i % 2:
            flat[pos:pos + n] = True
        pos += n
    assert pos <= w * h, f"mask runs sum to {pos}, more than {w}x{h}"
    return tight_mask(label, flat.reshape(h, w), left, top, group)


def _points(value: str) -> tuple[float, ...]:
    return tuple(float(v) for pair in value.split(";") for v in pair.split(","))


def read_cvat_xml(xml: Path, rel_of: Any = None) -> Dataset:
    """A CVAT for images 1.1 file. ``rel_of(name, subset)`` gives the file's path relative to
    the dataset root (default: the name itself)."""
    out: Dataset = {}
    for el in ET.parse(xml).getroot().iter("image"):
        w, h = int(el.attrib["width"]), int(el.attrib["height"])
        subset = el.attrib.get("subset")
        rel = rel_of(el.attrib["name"], subset) if rel_of else el.attrib["name"]
        n = 1
        while rel in out:  # two <image> elements for one file: both kept, the second is
            n += 1         # reported as an image that is not in the source
            rel = f"{rel.split(' (again')[0]} (again, #{n})"
        im = out[rel] = Image(rel, w, h, subset)
        for s in el:
            label, group = s.attrib.get("label", ""), s.attrib.get("group_id", "0")
            group = "" if group in ("", "0") else f"cvat:{group}"
            if s.tag == "box":
                c = tuple(float(s.attrib[k]) for k in ("xtl", "ytl", "xbr", "ybr"))
                im.objs.append(Obj("box", label, c, group=group))
            elif s.tag in ("polygon", "polyline", "points"):
                im.objs.append(Obj(s.tag, label, _points(s.attrib["points"]), group=group))
            elif s.tag == "mask":
                im.objs.append(cvat_mask(s, label, group))
            elif s.tag == "tag":
                im.objs.append(Obj("tag", label))
            else:
                im.objs.append(Obj(s.tag, label, group=group))
    return out


def read_tc_output(ds: Path) -> Dataset:
    """What ``tc dataset import`` wrote into ``ds`` (= DEST/datasets/N), keyed by the source
    path that ``annotations/mapping.json`` gives for each flat name."""
    mapping = json.loads((ds / "annotations" / "mapping.json").read_text())["files"]
    return read_cvat_xml(ds / "annotations" / "annotations.xml", lambda n, _s: mapping[n])


# ----------------------------------------------------------------------------- VOC

def read_voc(root: Path, dirs: list[tuple[str, str | None, str | None]],
             sizes_from_images: bool = False) -> Dataset:
    """``dirs``: (annotation folder, image folder or None for beside the XML, subset or None
    for ``ImageSets/Main/<subset>.txt``). Every ``*.xml`` with an ``<annotation>`` root whose
    image is there; boxes as VOC writes them (no 1-pixel shift)."""
    out: Dataset = {}
    listed: dict[str, str] = {}
    sets = root / "ImageSets" / "Main"
    for f in sorted(sets.glob("*.txt")) if sets.is_dir() else []:
        if "_" not in f.stem:  # <subset>.txt, not <class>_<subset>.txt
            listed.update((line, f.stem) for line in f.read_text().split())
    for ann_dir, img_dir, subset in dirs:
        for xml in sorted((root / ann_dir).glob("*.xml")):
            doc = ET.parse(xml).getroot()
            if doc.tag != "annotation":
                continue
            fname = doc.findtext("filename") or ""
            rel = f"{img_dir if img_dir is not None else ann_dir}/{fname}"
            if not (root / rel).is_file():
                continue
            size = doc.find("size")
            if size is not None and not sizes_from_images:
                w, h = int(size.findtext("width") or 0), int(size.findtext("height") or 0)
            else:
                w, h = PILImage.open(root / rel).size
            im = out[rel] = Image(rel, w, h, subset or listed.get(Path(fname).stem))
            for o in doc.findall("object"):
                bb = o.find("bndbox")
                assert bb is not None
                c = tuple(float(bb.findtext(k) or "nan") for k in ("xmin", "ymin", "xmax", "ymax"))
                im.objs.append(Obj("box", o.findtext("name") or "", c))
    return out


# ----------------------------------------------------------------------------- YOLO

def read_yolo(root: Path, pairs: list[tuple[str, str, str | None]], names: list[str]) -> Dataset:
    """``pairs``: (image folder, label folder, subset); ``<label folder>/<stem>.txt`` belongs
    to ``<image folder>/<stem>.<ext>``. Normalised coordinates times the image's size (PIL)."""
    out: Dataset = {}
    for img_dir, lab_dir, subset in pairs:
        for p in sorted((root / img_dir).iterdir()):
            if p.suffix.lower() not in IMAGE_EXT:
                continue
            w, h = PILImage.open(p).size
            rel = p.relative_to(root).as_posix()
            im = out[rel] = Image(rel, w, h, subset)
            txt = root / lab_dir / (p.stem + ".txt")
            for line in (txt.read_text().splitlines() if txt.is_file() else []):
                if not line.strip():
                    continue
                cls, *v = line.split()
                label = names[int(cls)]
                if len(v) == 4:
                    cx, cy, bw, bh = map(float, v)
                    im.objs.append(Obj("box", label, ((cx - bw / 2) * w, (cy - bh / 2) * h,
                                                      (cx + bw / 2) * w, (cy + bh / 2) * h)))
                else:
                    pts = [float(x) * (w if i % 2 == 0 else h) for i, x in enumerate(v)]
                    im.objs.append(Obj("polygon", label, tuple(pts)))
    return out


def yaml_names(path: Path) -> list[str]:
    import yaml

    names = yaml.safe_load(path.read_text())["names"]
    return list(names.values()) if isinstance(names, dict) else list(names)


# ----------------------------------------------------------------------------- ImageFolder

def read_imagefolder(root: Path, splits: list[tuple[str, str | None]]) -> Dataset:
    """torchvision's ImageFolder: ``<split>/<class>/**/<image>``, the class is the first
    folder under the split; files directly in the split folder are not samples."""
    out: Dataset = {}
    for split_dir, subset in splits:
        base = root / split_dir if split_dir else root
        for cls in sorted(d for d in base.iterdir() if d.is_dir()):
            for p in sorted(cls.rglob("*")):
                if p.is_file() and p.suffix.lower() in IMAGE_EXT:
                    w, h = PILImage.open(p).size
                    rel = p.relative_to(root).as_posix()
                    out[rel] = Image(rel, w, h, subset, [Obj("tag", cls.name)])
    return out


# ----------------------------------------------------------------------------- comparing

TOL = 0.01


def _same(a: Obj, b: Obj) -> bool:
    if (a.kind, a.label) != (b.kind, b.label):
        return False
    if a.kind == "mask":
        return a.mask is not None and b.mask is not None and a.coords == b.coords \
            and a.mask.shape == b.mask.shape and bool(np.array_equal(a.mask, b.mask))
    return len(a.coords) == len(b.coords) and all(
        abs(x - y) <= TOL for x, y in zip(a.coords, b.coords, strict=True))


def _show(o: Obj) -> str:
    if o.kind == "mask":
        return f"mask {o.label!r} ({int(o.mask.sum()) if o.mask is not None else 0} px, extent " \
               f"{o.extent()})"
    c = ", ".join(f"{v:g}" for v in o.coords[:6]) + (", ..." if len(o.coords) > 6 else "")
    return f"{o.kind} {o.label!r} ({c})"


def differences(want: Dataset, got: Dataset, superset: bool = False) -> list[str]:
    """Every difference between the reader's answer and tc's, one line each (empty: equal).
    ``superset``: tc may carry more images and objects than ``want``."""
    out: list[str] = []
    for rel in sorted(set(want) - set(got)):
        out.append(f"{rel}: missing in tc's output")
    if not superset:
        out += [f"{rel}: in tc's output, not in the source" for rel in sorted(set(got) - set(want))]
    for rel in sorted(set(want) & set(got)):
        w, g = want[rel], got[rel]
        if (w.width, w.height) != (g.width, g.height):
            out.append(f"{rel}: size {g.width}x{g.height}, expected {w.width}x{w.height}")
        left = list(g.objs)
        for o in w.objs:
            k = next((i for i, x in enumerate(left) if _same(o, x)), None)
            if k is None:
                out.append(f"{rel}: {_show(o)} missing")
            else:
                left.pop(k)
        if not superset:
            out += [f"{rel}: unexpected {_show(o)}" for o in left]
    return out


def subsets(ds: Dataset) -> dict[str, str | None]:
    return {rel: im.subset for rel, im in ds.items()}


def training_objects(ds: Dataset) -> dict[str, list[tuple[str, tuple[float, ...]]]]:
    """What a detection stage must train on per image: one (label, COCO bbox x, y, w, h) per
    object (a group's parts are one object: the union of their extents; a mask's box is the
    box of its set pixels; a shape with an empty label, as CVAT writes an unlabelled one, is
    no training object)."""
    out: dict[str, list[tuple[str, tuple[float, ...]]]] = {}
    for rel, im in ds.items():
        groups: dict[str, tuple[str, list[float]]] = {}
        objs: list[tuple[str, list[float]]] = []
        for o in im.objs:
            if o.kind not in ("box", "polygon", "mask") or not o.label:
                continue
            e = list(o.extent())
            if o.group and o.group in groups:
                g = groups[o.group][1]
                g[:] = [min(g[0], e[0]), min(g[1], e[1]), max(g[2], e[2]), max(g[3], e[3])]
                continue
            objs.append((o.label, e))
            if o.group:
                groups[o.group] = objs[-1]
        out[rel] = sorted((lab, (e[0], e[1], e[2] - e[0], e[3] - e[1])) for lab, e in objs)
    return out


def tags(ds: Dataset) -> dict[str, list[str]]:
    return {rel: sorted(o.label for o in im.objs if o.kind == "tag") for rel, im in ds.items()}
