# Managed by tc (`tc update` brings its new versions) — edit train.py instead.
"""The data model of parsed CVAT for images 1.1 annotations, and the checks of its values.

:class:`CvatAnnotations` (labels, images, boxes in flat arrays, counted warnings) is what
:func:`cvat_dataset.parse_cvat` returns; the value parsers here raise :class:`CvatError`
naming the element. Plain module (stdlib only).
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

SHAPE_KINDS = ("box", "polygon", "polyline", "points", "mask", "tag", "cuboid", "skeleton",
               "ellipse")
ALL_KINDS = frozenset(SHAPE_KINDS)


class CvatError(ValueError):
    """Unusable annotations: the message names the file and what is wrong."""


@dataclass
class CvatImage:
    """One ``<image>`` entry. Boxes live in the shared :class:`BoxStore` slice ``[b0, b1)``."""

    xml_name: str
    file_name: str
    width: int
    height: int
    subset: str | None
    b0: int
    b1: int
    #: other shapes: (kind, label, data, occluded, z_order, attrs) — polygon data is a flat
    #: float list, mask data (left, top, width, height, rle string), tag data None
    shapes: list[tuple[Any, ...]] | None = None
    xml_id: str | None = None
    #: CVAT ``group_id`` of the shapes that have a non-zero one: index in ``shapes`` -> id
    #: (boxes: ``BoxStore.groups``)
    groups: dict[int, int] | None = None
    #: whether any of its boxes or shapes has a non-zero ``group_id``
    grouped: bool = False


@dataclass
class BoxStore:
    """Structure-of-arrays storage of every ``<box>``: x, y, w, h, label index, flags."""

    x: array[float] = field(default_factory=lambda: array("d"))
    y: array[float] = field(default_factory=lambda: array("d"))
    w: array[float] = field(default_factory=lambda: array("d"))
    h: array[float] = field(default_factory=lambda: array("d"))
    label: array[int] = field(default_factory=lambda: array("i"))
    #: occluded bit 0; z_order in the upper bits
    flags: array[int] = field(default_factory=lambda: array("q"))
    #: sparse: box index -> tuple of (name, value) attributes
    attrs: dict[int, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    #: sparse: box index -> its non-zero CVAT ``group_id``
    groups: dict[int, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.label)


@dataclass
class CvatAnnotations:
    """The parsed file."""

    path: str
    labels: list[str]
    images: dict[str, CvatImage]
    boxes: BoxStore
    warnings: Counter[str]
    #: labels declared in <meta> (the rest were appended on first appearance)
    declared: int = 0


# ----------------------------------------------------------------------------- values

def safe_file_name(xml_name: str, where: str) -> str:
    """Return the file name of an ``<image name=...>``; reject absolute names and ``..``."""
    if not xml_name or "\x00" in xml_name:
        raise CvatError(f"{where}: empty or invalid image name {xml_name!r}")
    norm = xml_name.replace("\\", "/")
    if norm.startswith("/") or (len(norm) > 1 and norm[1] == ":"):
        raise CvatError(f"{where}: absolute image name {xml_name!r} is not allowed "
                        "(names must be relative, e.g. 'user/55/1.jpg')")
    parts = norm.split("/")
    if ".." in parts:
        raise CvatError(f"{where}: image name {xml_name!r} contains '..' (rejected: it could "
                        "write outside the dataset folders)")
    base = parts[-1]
    if base in ("", "."):
        raise CvatError(f"{where}: image name {xml_name!r} has no file name")
    return base


def parse_float(value: str | None, what: str, where: str) -> float:
    if value is None:
        raise CvatError(f"{where}: missing attribute {what}")
    try:
        f = float(value)
    except ValueError:
        raise CvatError(f"{where}: {what}={value!r} is not a number") from None
    if not math.isfinite(f):
        raise CvatError(f"{where}: {what}={value!r} is not a finite number")
    return f


def parse_int(value: str | None, default: int = 0) -> int:
    if value is None or value == "":
        return default
    try:
        return int(float(value))
    except ValueError:
        return default


def parse_points(value: str | None, where: str) -> list[float]:
    if not value:
        raise CvatError(f"{where}: missing points")
    flat: list[float] = []
    try:
        for pair in value.split(";"):
            xs, ys = pair.split(",")
            flat.append(float(xs))
            flat.append(float(ys))
    except ValueError:
        raise CvatError(f"{where}: points={value[:60]!r} is not 'x,y;x,y;...'") from None
    if not all(math.isfinite(v) for v in flat):
        raise CvatError(f"{where}: points contain a non-finite number")
    return flat


def rotated_bbox(x: float, y: float, w: float, h: float, deg: float) -> tuple[float, ...]:
    """Axis-aligned box enclosing a box rotated by ``deg`` degrees about its centre."""
    cx, cy = x + w / 2, y + h / 2
    r = math.radians(deg)
    c, s = abs(math.cos(r)), abs(math.sin(r))
    nw, nh = w * c + h * s, w * s + h * c
    return cx - nw / 2, cy - nh / 2, nw, nh



def declared_labels(names: list[tuple[int, bool, str] | None]) -> list[str]:
    """Declared labels from the <meta> walk: per owner (task, project, job) its own labels,
    then those of its tasks; only the first <name> of a <label> (None ends a label);
    empty and repeated names left out."""
    firsts: list[tuple[int, bool, str]] = []
    first = True
    for n in names:
        if n is None:
            first = True
        elif first:
            firsts.append(n)
            first = False
    out: list[str] = []
    seen: set[str] = set()
    for _owner, _of_tasks, name in sorted(firsts, key=lambda t: (t[0], t[1])):
        if name and name not in seen:
            seen.add(name)
            out.append(name)
    return out


def truncate_boxes(boxes: BoxStore, n: int) -> None:
    for arr in (boxes.x, boxes.y, boxes.w, boxes.h, boxes.label, boxes.flags):
        del arr[n:]
    for k in [k for k in boxes.attrs if k >= n]:
        del boxes.attrs[k]
    for k in [k for k in boxes.groups if k >= n]:
        del boxes.groups[k]


def same_content(a: CvatImage, b: CvatImage, boxes: BoxStore) -> bool:
    if (a.width, a.height) != (b.width, b.height) or (a.b1 - a.b0) != (b.b1 - b.b0):
        return False
    for arr in (boxes.x, boxes.y, boxes.w, boxes.h, boxes.label, boxes.flags):
        if arr[a.b0:a.b1] != arr[b.b0:b.b1]:
            return False
    if a.grouped or b.grouped:
        g = boxes.groups
        if [g.get(k) for k in range(a.b0, a.b1)] != [g.get(k) for k in range(b.b0, b.b1)] \
                or a.groups != b.groups:
            return False
    return (a.shapes or []) == (b.shapes or [])


# ----------------------------------------------------------------------------- geometry
