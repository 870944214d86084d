"""Pascal VOC XML reader (``Annotations/*.xml`` + ``JPEGImages/``, or XML beside the images).

Boxes keep VOC's numbers as they are (``xmin`` -> ``xtl``, ``xmax`` -> ``xbr``; no 1-pixel
shift, as datumaro and CVAT's VOC importer do). ``occluded`` -> CVAT occluded; ``truncated``,
``difficult``, ``pose`` and CVAT-style ``<attributes>`` -> ``<attribute>``. Label order:
``labelmap.txt`` when present, else first appearance (files sorted). Subsets:
``ImageSets/Main/<subset>.txt``, else Roboflow's split folder (``train/x.xml``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tcli.errors import InputError

from .fsutil import is_image_name, resolve_inside, walk_files
from .model import Losses, Record, Shape, Source

OBJ_ATTRS = ("truncated", "difficult", "pose")
MAX_COORD = 1e6


def _parser() -> Any:
    from lxml import etree

    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           huge_tree=False, remove_comments=True)


def is_voc_xml(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    return b"<annotation" in head and b"<annotations" not in head


def read_voc(root: Path, xmls: list[Path], losses: Losses, skip: Path | None = None
             ) -> Source:
    labels: list[str] = []
    lm = next((p for p in (root / "labelmap.txt", root / "labels.txt") if p.is_file()), None)
    if lm is not None:
        for line in lm.read_text(encoding="utf-8").splitlines():
            name = line.split(":", 1)[0].strip()
            if name and not name.startswith("#") and name not in labels:
                labels.append(name)
    index = {n: i for i, n in enumerate(labels)}
    all_files = list(walk_files(root, skip))
    by_base: dict[str, list[Path]] = {}
    for rel, p in all_files:
        if is_image_name(rel):
            by_base.setdefault(rel.rsplit("/", 1)[-1], []).append(p)
    if any("SegmentationClass" in rel or "SegmentationObject" in rel for rel, _ in all_files):
        losses.add("VOC segmentation PNGs (SegmentationClass/Object) not imported")
    src = Source("voc", root, labels, lambda: iter(()), losses)
    subsets = image_sets(root)

    def label(name: str) -> int:
        i = index.get(name)
        if i is None:
            i = index[name] = len(labels)
            labels.append(name)
        return i

    def records() -> Iterator[Record]:
        from lxml import etree

        parser = _parser()
        used: set[str] = set()
        for x in xmls:
            rel = x.relative_to(root).as_posix()
            try:
                doc = etree.parse(str(x), parser).getroot()
            except etree.XMLSyntaxError as exc:
                raise InputError(f"{rel}: malformed XML ({exc})") from None
            if doc.getroottree().docinfo.doctype:
                raise InputError(f"{rel}: has a DOCTYPE; refused")
            rec = _record(root, x, rel, doc, by_base, label, src, subsets)
            if not rec.missing:
                used.add(rec.rel)
            yield rec
        src.unreferenced = [r for r, _p in all_files if is_image_name(r) and r not in used]

    src.records = records
    return src


def _num(el: Any, tag: str, where: str) -> float:
    t = el.findtext(tag)
    if t is None or not t.strip():
        raise InputError(f"{where}: <{tag}> is missing")
    try:
        return float(t)
    except ValueError:
        raise InputError(f"{where}: <{tag}>{t.strip()}</{tag}> is not a number") from None


def _record(root: Path, x: Path, rel: str, doc: Any, by_base: dict[str, list[Path]],
            label: Any, src: Source, subsets: dict[str, str]) -> Record:
    fname = (doc.findtext("filename") or "").strip()
    if not fname:
        raise InputError(f"{rel}: <filename> is missing")
    size = doc.find("size")
    w = h = 0
    if size is not None and (size.findtext("width") or "").strip():
        w = int(_num(size, "width", f"{rel}: <size>"))
        h = int(_num(size, "height", f"{rel}: <size>"))
    folder = (doc.findtext("folder") or "").strip()
    cand = None
    for base in (root / "JPEGImages", x.parent, root, root / folder if folder else None):
        if base is None:
            continue
        try:
            p = resolve_inside(root, (base / fname).relative_to(root).as_posix(),
                               f"{rel}: <filename>")
        except ValueError:
            continue
        if p.is_file():
            cand = p
            break
    if cand is None:
        found = by_base.get(fname.rsplit("/", 1)[-1])
        if found and len(found) == 1:
            cand = found[0]
    if cand is None:
        src.losses.add("annotation files whose image is missing (left out)", rel)
        cand = root / fname  # a record without a file: the importer skips it
    elif w <= 0 or h <= 0:  # no <size> (or 0): the image's header has it
        from .imagesize import size_of

        w, h = size_of(cand, f"{rel}: no <size>, and the image")
    shapes: list[Shape] = []
    for k, obj in enumerate(doc.iterfind("object")):
        where = f"{rel}: <object> {k + 1}"
        name = (obj.findtext("name") or "").strip()
        if not name:
            raise InputError(f"{where}: <name> is missing")
        li = label(name)
        src.annotated += 1
        bb = obj.find("bndbox")
        attrs: list[tuple[str, str]] = []
        for a in OBJ_ATTRS:
            t = obj.findtext(a)
            if t is not None and t.strip():
                attrs.append((a, t.strip()))
                src.note_attr(li, a)
        for a in obj.iterfind("attributes/attribute"):
            an, av = (a.findtext("name") or "").strip(), (a.findtext("value") or "").strip()
            if an and an not in ("occluded", "rotation"):
                attrs.append((an, av))
                src.note_attr(li, an)
        occ = (obj.findtext("occluded") or "0").strip() in ("1", "true", "True")
        if obj.find("part") is not None:
            src.losses.add("VOC <part> (person layout) not carried", rel)
        if obj.find("actions") is not None:
            src.losses.add("VOC <actions> not carried", rel)
        if bb is None:
            src.losses.add("objects without <bndbox> (skipped)", where)
            continue
        x0, y0 = _num(bb, "xmin", where), _num(bb, "ymin", where)
        x1, y1 = _num(bb, "xmax", where), _num(bb, "ymax", where)
        if not (all(-MAX_COORD < v < MAX_COORD for v in (x0, y0, x1, y1))
                and x1 >= x0 and y1 >= y0):
            src.losses.add("objects with NaN, infinite, huge (> 1e6 px) or inverted "
                           "coordinates (refused)", f"{where}: ({x0}, {y0}, {x1}, {y1})")
            continue
        shapes.append(Shape("box", li, (x0, y0, x1, y1), occ, 0, tuple(attrs)))
    missing = not cand.is_file()
    stem = fname.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return Record(cand, cand.relative_to(root).as_posix() if cand.is_relative_to(root)
                  else fname, w, h, shapes,
                  subsets.get(stem) or subsets.get(x.stem) or split_folder(rel),
                  missing=missing)


def split_folder(rel: str) -> str | None:
    """Roboflow's VOC export: ``train/x.xml`` beside ``train/x.jpg``; the split folder
    (train, valid, val, test ...) is the subset, as it is called."""
    from .imagefolder import SPLITS

    top, sep, _rest = rel.partition("/")
    return top if sep and top.lower() in SPLITS else None


def image_sets(root: Path) -> dict[str, str]:
    """VOC's split: ``ImageSets/Main/<subset>.txt`` (one image id a line) -> {id: subset}.
    ``trainval`` is used only for ids that ``train``/``val`` do not name."""
    d = root / "ImageSets" / "Main"
    if not d.is_dir():
        return {}
    from tcli.safety.limits import read_text

    out: dict[str, str] = {}
    lists = sorted(p for p in d.iterdir() if p.suffix == ".txt" and "_" not in p.stem)
    for p in sorted(lists, key=lambda q: q.stem == "trainval"):
        for line in read_text(p, max_bytes=64 << 20).splitlines():
            tok = line.split()
            if tok:
                out.setdefault(tok[0], p.stem)
    return out
