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

from tcli.errors import InputError

from .fsutil import is_image_name, resolve_inside, walk_files
from .model import Losses, Record, Shape, Source

SHAPES = ("box", "polygon", "polyline", "points", "mask", "tag", "ellipse", "cuboid",
          "skeleton")


def find_xml(root: Path) -> Path | None:
    for p in (root / "annotations" / "annotations.xml", root / "annotations.xml"):
        if p.is_file():
            return p
    return None


def _prolog_ok(path: Path) -> None:
    with open(path, "rb") as fh:
        head = fh.read(65536).upper()
    if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
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
    """``flat``: the platform layout (samples = the regular files directly in ``root``)."""
    xml = xml or find_xml(root)
    if xml is None:
        raise InputError(f"{root}: no annotations/annotations.xml (CVAT for images 1.1)")
    _prolog_ok(xml)
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

    def records() -> Iterator[Record]:
        from lxml import etree

        index: dict[str, int] = {}
        seen: set[str] = set()
        ctx = etree.iterparse(str(xml), events=("end",), tag=("image", "meta", "track"),
                              resolve_entities=False, no_network=True, load_dtd=False,
                              remove_comments=True)
        try:
            for _ev, el in ctx:
                parent = el.getparent()
                if parent is None or parent.getparent() is not None:
                    continue
                if parent.tag != "annotations":
                    raise InputError(f"{xml}: root element is <{parent.tag}>, expected "
                                     "<annotations>")
                if el.tag == "meta":
                    names, attrs = meta_labels(el)
                    for n in names:
                        index[n] = len(labels)
                        labels.append(n)
                        for a in attrs[n]:
                            if a:
                                src.note_attr(index[n], a)
                    src.raw_meta = etree.tostring(el, encoding="utf-8")
                elif el.tag == "track":
                    raise InputError(f"{xml}: has <track> elements (CVAT for video); export "
                                     "the task as 'CVAT for images 1.1'")
                else:
                    rec = _record(root, xml, el, by_base, index, labels, src, flat)
                    if not rec.missing:
                        seen.add(rec.rel)
                    yield rec
                el.clear(keep_tail=False)
                while el.getprevious() is not None:
                    del parent[0]
        except etree.XMLSyntaxError as exc:
            raise InputError(f"{xml}: malformed XML ({exc})") from None
        src.unreferenced = [r for r in all_rel if r not in seen]

    src.records = records
    return src


def _f(el: Any, k: str, where: str) -> float:
    v = el.get(k)
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise InputError(f"{where}: {k}={v!r} is not a number") from None
    if not math.isfinite(f):
        raise InputError(f"{where}: {k}={v!r} is not finite")
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
    path: Path | None = None
    if not flat:
        for pre in ("images/", ""):
            p = resolve_inside(root, pre + norm, where)
            if p.is_file():
                path = p
                break
    if path is None:
        found = by_base.get(base)
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
