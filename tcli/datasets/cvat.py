"""CVAT for images 1.1 reader (a CVAT export folder, or the platform layout).

Streams ``annotations.xml`` with lxml ``iterparse`` (entities, DTDs and network off; a DOCTYPE
is refused). For import each ``<image>`` element is passed on as it is (only ``id`` and
``name`` change), and ``<meta>`` is copied verbatim, so nothing is lost; shapes are also
parsed into :class:`~tcli.datasets.model.Shape` for ``inspect``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tcli.contract import ANNOTATIONS_XML
from tcli.errors import InputError

from .fsutil import is_image_name, resolve_inside, walk_files, xml_root_tag
from .model import Losses, Record, Shape, Source

#: coordinates beyond this (px) are refused: no image is that large, and a float such as
#: 1e308 would overflow every later computation
MAX_COORD = 1e6
SUBSET_NAMES = frozenset({"train", "val", "valid", "validation", "test", "default"})

SHAPES = ("box", "polygon", "polyline", "points", "mask", "tag", "ellipse", "cuboid",
          "skeleton")


def find_xmls(root: Path) -> list[Path]:
    """The CVAT for images XML files of a source: ``annotations.xml`` (in ``annotations/`` or
    at the top), else every ``*.xml`` at the top or in ``annotations/`` whose root element is
    ``<annotations>`` (a task exported under another name, or one file per subset)."""
    for p in (root / "annotations" / ANNOTATIONS_XML, root / ANNOTATIONS_XML):
        if p.is_file():
            return [p]
    found: list[Path] = []
    for d in (root, root / "annotations"):
        if not d.is_dir():
            continue
        for p in sorted(d.iterdir()):
            if (p.suffix.lower() == ".xml" and not p.name.startswith(".") and p.is_file()
                    and xml_root_tag(p) == "annotations"):
                found.append(p)
    return found


def find_xml(root: Path) -> Path | None:
    found = find_xmls(root)
    return found[0] if found else None


def _prolog_ok(path: Path) -> None:
    """A cheap early refusal; the parser checks the whole file (see :func:`_doctype_ok`)."""
    with open(path, "rb") as fh:
        head = fh.read(65536).upper()
    if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
        raise InputError(f"{path}: has a DOCTYPE/ENTITY declaration; refused (CVAT exports "
                         "have none)")


def _doctype_ok(path: Path, el: Any) -> None:
    """Refuse a DOCTYPE wherever it is in the file (the parser has read it before the first
    element ends): entity references would otherwise be copied into the output unresolved."""
    info = el.getroottree().docinfo
    if info.doctype or info.internalDTD is not None:
        raise InputError(f"{path}: has a DOCTYPE/ENTITY declaration; refused (CVAT exports "
                         "have none)")


def meta_labels(meta: Any) -> tuple[list[str], dict[str, list[str]]]:
    names: list[str] = []
    attrs: dict[str, list[str]] = {}
    for label in meta.iter("label"):
        name = (label.findtext("name") or "").strip()
        if name and name not in attrs:
            names.append(name)
            attrs[name] = [(a.findtext("name") or "").strip()
                           for a in label.iterfind("attributes/attribute")]
    return names, attrs


def read_cvat(root: Path, losses: Losses, xml: Path | None = None, flat: bool = False,
              skip: Path | None = None) -> Source:
    """``flat``: the platform layout (samples = the regular files directly in ``root``).

    Several XML files (one per subset, e.g. ``train.xml`` + ``val.xml``) are read in turn; an
    ``<image>`` without a ``subset`` attribute gets the file's stem as its subset then.
    """
    xmls = [xml] if xml is not None else find_xmls(root)
    if not xmls:
        raise InputError(f"{root}: no CVAT XML found (looked for annotations/annotations.xml, "
                         "annotations.xml, and *.xml with an <annotations> root at the top or "
                         "in annotations/)")
    for x in xmls:
        _prolog_ok(x)
    if flat:
        files = {p.name: p for p in sorted(root.iterdir())
                 if not p.name.startswith(".") and p.is_file()}
        by_base = {k: [v] for k, v in files.items()}
        all_rel = list(files)
    else:
        listing = [(r, p) for r, p in walk_files(root, skip) if is_image_name(r)]
        by_base = {}
        for rel, p in listing:
            by_base.setdefault(rel.rsplit("/", 1)[-1], []).append(p)
        all_rel = [r for r, _ in listing]
    labels: list[str] = []
    src = Source("cvat", root, labels, lambda: iter(()), losses)
    src.unreferenced = all_rel  # reduced while reading
    several = len(xmls) > 1

    def records() -> Iterator[Record]:
        from lxml import etree

        index: dict[str, int] = {}
        seen: set[str] = set()
        for x in xmls:
            file_subset = x.stem if several else None
            ctx = etree.iterparse(str(x), events=("end",), tag=("image", "meta", "track"),
                                  resolve_entities=False, no_network=True, load_dtd=False,
                                  remove_comments=True, huge_tree=False)
            checked = False
            try:
                for _ev, el in ctx:
                    if not checked:
                        _doctype_ok(x, el)
                        checked = True
                    parent = el.getparent()
                    if parent is None or parent.getparent() is not None:
                        continue
                    if parent.tag != "annotations":
                        raise InputError(f"{x}: root element is <{parent.tag}>, expected "
                                         "<annotations>")
                    if el.tag == "meta":
                        names, attrs = meta_labels(el)
                        for n in names:
                            if n in index:
                                continue
                            index[n] = len(labels)
                            labels.append(n)
                            for a in attrs[n]:
                                if a:
                                    src.note_attr(index[n], a)
                        if not several:
                            src.raw_meta = etree.tostring(el, encoding="utf-8")
                    elif el.tag == "track":
                        raise InputError(f"{x}: has <track> elements (CVAT for video); export "
                                         "the task as 'CVAT for images 1.1'")
                    else:
                        if file_subset and not el.get("subset"):
                            el.set("subset", file_subset)
                        rec = _record(root, x, el, by_base, index, labels, src, flat)
                        if not rec.missing:
                            seen.add(rec.rel)
                        yield rec
                    el.clear(keep_tail=False)
                    while el.getprevious() is not None:
                        del parent[0]
            except etree.XMLSyntaxError as exc:
                raise InputError(f"{x}: malformed XML ({exc})") from None
        src.unreferenced = [r for r in all_rel if r not in seen]

    src.records = records
    return src


def _in_other_subset(root: Path, f: Path, subset: str) -> bool:
    """``f`` is in a folder that looks like another subset's (``images/<Other>/name``)."""
    parts = f.relative_to(root).parts[:-1] if f.is_relative_to(root) else ()
    if not parts or subset in parts:
        return False
    return (parts[0] == "images" and len(parts) > 1) or parts[-1].lower() in SUBSET_NAMES


def _f(el: Any, k: str, where: str) -> float:
    v = el.get(k)
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise InputError(f"{where}: {k}={v!r} is not a number") from None
    if not math.isfinite(f):
        raise InputError(f"{where}: {k}={v!r} is not finite")
    if not -MAX_COORD < f < MAX_COORD:
        raise InputError(f"{where}: {k}={v!r} is beyond {MAX_COORD:g} px")
    return f


def _record(root: Path, xml: Path, el: Any, by_base: dict[str, list[Path]],
            index: dict[str, int], labels: list[str], src: Source, flat: bool
            ) -> Record:
    name = el.get("name") or ""
    where = f"{xml}: <image id={el.get('id')!r} name={name!r}>"
    norm = name.replace("\\", "/")
    if ".." in norm.split("/") or norm.startswith("/"):
        raise InputError(f"{where}: image name escapes the dataset folder (no '..' or "
                         "absolute names)")
    base = norm.rsplit("/", 1)[-1]
    subset = el.get("subset") or None
    path: Path | None = None
    if not flat:
        # a project export keeps each subset's images in images/<Subset>/ (the same name may
        # be in several subsets): the subset's folder first
        pres = (f"images/{subset}/", f"{subset}/", "images/", "") if subset and "/" not in \
            subset and subset not in (".", "..") else ("images/", "")
        for pre in pres:
            p = resolve_inside(root, pre + norm, where)
            if p.is_file():
                path = p
                break
    if path is None:
        found = by_base.get(base)
        if found and subset and not flat:
            # never another subset's file: one under a folder named as the subset, or none
            mine = [f for f in found if subset in f.relative_to(root).parts[:-1]]
            if mine:
                found = mine
            elif any(_in_other_subset(root, f, subset) for f in found):
                found = []
        if found and len(found) == 1:
            path = found[0]
    try:
        w, h = int(el.get("width") or 0), int(el.get("height") or 0)
    except ValueError:
        raise InputError(f"{where}: width/height are not integers") from None
    shapes: list[Shape] = []
    for ch in el:
        kind = ch.tag
        if kind not in SHAPES:
            continue
        get = ch.get
        if kind == "box" and not len(ch):
            li_fast = index.get(get("label") or "", -1)
            if li_fast >= 0:
                try:
                    data4: tuple[float, ...] = (
                        float(get("xtl")), float(get("ytl")),
                        float(get("xbr")), float(get("ybr")))
                    if not all(-MAX_COORD < v < MAX_COORD for v in data4):
                        raise ValueError
                except (TypeError, ValueError):
                    data4 = tuple(_f(ch, k, where) for k in ("xtl", "ytl", "xbr", "ybr"))
                z_s = get("z_order")
                shapes.append(Shape("box", li_fast, data4, get("occluded") == "1",
                                    int(z_s) if z_s and z_s != "0" else 0))
                continue
        lab_name = ch.get("label")
        if lab_name is None:
            raise InputError(f"{where}: <{kind}> without a label")
        li = index.get(lab_name)
        if li is None:
            li = index[lab_name] = len(labels)
            labels.append(lab_name)
            src.losses.add("labels not declared in <meta> (appended)", lab_name)
        occ = ch.get("occluded") == "1"
        try:
            z = int(ch.get("z_order") or 0)
        except ValueError:
            z = 0
        attrs = tuple((a.get("name") or "", a.text or "") for a in ch.iterfind("attribute")
                      ) if len(ch) else ()
        if kind == "box":
            data: Any = tuple(_f(ch, k, where) for k in ("xtl", "ytl", "xbr", "ybr"))
        elif kind in ("polygon", "polyline", "points"):
            try:
                data = [float(v) for pair in (ch.get("points") or "").split(";")
                        for v in pair.split(",")]
            except ValueError:
                raise InputError(f"{where}: <{kind}> points are not 'x,y;x,y;...'") from None
            if not all(-MAX_COORD < v < MAX_COORD for v in data):
                raise InputError(f"{where}: <{kind}> points: a coordinate is not a finite "
                                 f"number within {MAX_COORD:g} px")
        elif kind == "mask":
            try:
                runs = [int(float(v)) for v in (ch.get("rle") or "").split(",") if v.strip()]
                data = (int(ch.get("left") or 0), int(ch.get("top") or 0),
                        int(ch.get("width") or 0), int(ch.get("height") or 0), runs)
            except ValueError:
                raise InputError(f"{where}: <mask> rle/left/top/width/height invalid") from None
        else:
            data = None
        shapes.append(Shape(kind, li, data, occ, z, attrs))
    if path is None:
        src.losses.add("annotated images without a file (left out)", name)
        return Record(root / base, base, w, h, shapes, el.get("subset"), None, missing=True)
    rel = base
    if not flat and path.is_relative_to(root):
        rel = path.relative_to(root).as_posix()
    return Record(path, rel, w, h, shapes, el.get("subset"), el)
