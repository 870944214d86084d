# Managed by tc (`tc update` brings its new versions) — edit train.py instead.
"""Streaming, hardened reader of CVAT for images 1.1 annotations (task or project export).

Reads ``annotations.xml`` with lxml ``iterparse`` (one ``<image>`` element in memory at a
time, cleared after use), entity resolution, DTD loading and network access disabled; any
DOCTYPE is rejected before parsing goes on (XXE, billion laughs). Boxes are kept in flat
arrays (about 50 bytes each), so memory grows only with the output itself.

Public API::

    ann = parse_cvat(path, keep={"box", "polygon", "mask", "tag"})
    ann.labels            # deterministic: <meta> order, then first appearance
    ann.images            # {file_name: CvatImage}
    ann.warnings          # Counter of counted warnings

Plain module (stdlib + lxml + numpy for masks), usable on Python 3.10+.
"""

from __future__ import annotations

import math
import os
import re
from array import array
from collections import Counter
from collections.abc import Callable
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


# ----------------------------------------------------------------------------- helpers

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


def _prolog_check(path: str) -> None:
    """Reject a DOCTYPE or ENTITY declaration before lxml sees the file."""
    with open(path, "rb") as fh:
        head = fh.read(65536)
    # The prolog ends at the first element start tag ("<" followed by a name character).
    i = 0
    n = len(head)
    while True:
        i = head.find(b"<", i)
        if i < 0 or i + 1 >= n:
            break
        nxt = head[i + 1:i + 2]
        if nxt in (b"?",):
            i += 2
            continue
        if nxt == b"!":
            if head.startswith(b"<!--", i):
                end = head.find(b"-->", i + 4)
                if end < 0:
                    break
                i = end + 3
                continue
            if head[i:i + 9].upper() == b"<!DOCTYPE" or head[i:i + 8].upper() == b"<!ENTITY":
                raise CvatError(f"{path}: has a DOCTYPE/ENTITY declaration; refused "
                                "(CVAT exports have none; entities could read files or "
                                "expand without bound)")
            i += 2
            continue
        break


def _float(value: str | None, what: str, where: str) -> float:
    if value is None:
        raise CvatError(f"{where}: missing attribute {what}")
    try:
        f = float(value)
    except ValueError:
        raise CvatError(f"{where}: {what}={value!r} is not a number") from None
    if not math.isfinite(f):
        raise CvatError(f"{where}: {what}={value!r} is not a finite number")
    return f


def _int(value: str | None, default: int = 0) -> int:
    if value is None or value == "":
        return default
    try:
        return int(float(value))
    except ValueError:
        return default


def _attrs(el: Any) -> tuple[tuple[str, str], ...] | None:
    if not len(el):
        return None
    out = [(a.get("name") or "", (a.text or "")) for a in el if a.tag == "attribute"]
    return tuple(out) if out else None


def _points(value: str | None, where: str) -> list[float]:
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


def _meta_labels(meta: Any) -> list[str]:
    """Labels declared in <meta>: task export (meta/task/labels), project export
    (meta/project/labels), job export (meta/job/labels); order of declaration, no duplicates."""
    names: list[str] = []
    seen: set[str] = set()
    for owner in meta:
        if owner.tag not in ("task", "project", "job"):
            continue
        for labels in owner.iterchildren("labels"):
            for label in labels.iterchildren("label"):
                name_el = label.find("name")
                name = (name_el.text or "").strip() if name_el is not None else ""
                if name and name not in seen:
                    seen.add(name)
                    names.append(name)
        # a project export may carry per-task labels under project/tasks/task/labels too
        for tasks in owner.iterchildren("tasks"):
            for task in tasks.iterchildren("task"):
                for labels in task.iterchildren("labels"):
                    for label in labels.iterchildren("label"):
                        name_el = label.find("name")
                        name = (name_el.text or "").strip() if name_el is not None else ""
                        if name and name not in seen:
                            seen.add(name)
                            names.append(name)
    return names


def _rotated_bbox(x: float, y: float, w: float, h: float, deg: float) -> tuple[float, ...]:
    """Axis-aligned box enclosing a box rotated by ``deg`` degrees about its centre."""
    cx, cy = x + w / 2, y + h / 2
    r = math.radians(deg)
    c, s = abs(math.cos(r)), abs(math.sin(r))
    nw, nh = w * c + h * s, w * s + h * c
    return cx - nw / 2, cy - nh / 2, nw, nh


# ----------------------------------------------------------------------------- parser

#: ``rotation`` values that mean "not rotated" without parsing them
_NO_ROTATION = ("0", "0.0", "0.00")
#: the counted warning of a shape with ``label=""`` (CVAT's unlabelled shape): no class, no
#: training object
_UNLABELLED = "shapes with an empty label (not training objects)"
#: element depths: <annotations> 1, <image>/<meta> 2, shapes 3, their <attribute>s 4
_IMAGE, _SHAPE, _ATTR = 2, 3, 4
#: paths (below <meta>) of the <name> elements that declare labels
_META_LABEL_PATHS = frozenset(
    (owner, *rest) for owner in ("task", "project", "job")
    for rest in (("labels", "label", "name"), ("tasks", "task", "labels", "label", "name")))


class _Target:
    """Callbacks of the lxml target parser (set per parse as closures: no tree is built)."""

    start: Any
    end: Any
    data: Any
    doctype: Any
    close: Any


def parse_cvat(path: str | os.PathLike[str], keep: frozenset[str] | set[str] = ALL_KINDS
               ) -> CvatAnnotations:
    """Parse a CVAT for images 1.1 file, streaming.

    lxml's *target parser* calls back on every start and end tag: no element tree is built
    and nothing is cleared afterwards, which is what makes it faster than ``iterparse``.
    Text is collected only where it is used (``<attribute>`` values, label names).

    A large file (``PARALLEL_MIN_BYTES``) on a machine with two or more CPUs is parsed in
    two processes, split at an ``</image>`` near the middle (see :func:`_parse_halves`); the
    result is the same as the one-process parse, which is used whenever the split is not
    certain to be equivalent (and for every error, so messages are the same).

    Args:
        path: the ``annotations.xml``.
        keep: shape kinds to keep; others are counted in ``warnings`` as skipped, and so
            are shapes with ``label=""`` (CVAT's unlabelled shape: no class, no object).

    Raises:
        CvatError: DOCTYPE/entities, malformed or truncated XML, wrong root, CVAT for video
            (``<track>``), unsafe image names, missing or bad coordinates, conflicting
            duplicate file names.
    """
    spath = os.fspath(path)
    if not os.path.isfile(spath):
        raise CvatError(f"{spath}: annotations file not found")
    _prolog_check(spath)
    ann = _parse_halves(spath, keep)
    if ann is None:
        ann, _ = _parse(spath, keep)
    for name in ann.labels[ann.declared:]:
        ann.warnings[f"label {name!r} is not declared in <meta> (appended)"] += 1
    return ann


def _parse(spath: str, keep: frozenset[str] | set[str],
           span: tuple[int, int, bytes, bytes] | None = None) -> tuple[CvatAnnotations, bool]:
    """The one-process parse of ``spath`` (or of the byte ``span`` (start, end, prefix,
    suffix) of it); returns the annotations (no "not declared" warnings yet) and whether a
    ``<meta>`` was seen."""
    from lxml import etree

    warnings: Counter[str] = Counter()
    declared: list[str] = []
    label_index: dict[str, int] = {}
    labels: list[str] = []
    boxes = BoxStore()
    bx, by, bw, bh = boxes.x.append, boxes.y.append, boxes.w.append, boxes.h.append
    bl, bf = boxes.label.append, boxes.flags.append
    blabel = boxes.label
    battrs = boxes.attrs
    bgroups = boxes.groups
    images: dict[str, CvatImage] = {}
    keep_box = "box" in keep
    isfinite = math.isfinite
    text: list[str] = []  # character data since the last clear()
    clear = text.clear

    def label_id(name: str | None, where: str) -> int:
        if name is None:
            raise CvatError(f"{where}: shape without a label attribute")
        idx = label_index.get(name)
        if idx is None:
            idx = len(labels)
            label_index[name] = idx
            labels.append(name)
        return idx

    # parse state
    depth = 0
    shape_depth = -1  # _SHAPE while inside a top-level <image>, else -1
    img_attrib: dict[str, str] = {}
    where = ""
    file_name = ""
    b0 = 0
    others: list[tuple[Any, ...]] | None = None
    #: the open shape: "box" (attributes go to battrs[box_at]), a pending tuple of another
    #: shape (kind, label, data, occluded, z_order), or None (skipped / not a shape)
    shape: Any = None
    box_at = 0
    shape_attrs: list[tuple[str, str]] | None = None
    shape_group = 0  # group_id of the open (non-box) shape
    img_groups: dict[int, int] | None = None  # of the open image's shapes
    img_grouped = False
    attr_name: str | None = None
    attr_text: str | None = None
    meta_path: list[str] | None = None  # tags below <meta> while inside it
    meta_names: list[tuple[int, bool, str] | None] = []
    meta_owners = [0]  # children of <meta> seen so far
    saw_meta = [False]

    def start(tag: str, attrib: dict[str, str]) -> None:
        nonlocal depth, shape, box_at, shape_attrs, attr_name, attr_text, shape_group
        nonlocal img_grouped
        depth += 1
        if depth == shape_depth:
            clear()
            if tag == "box":
                if not keep_box:
                    warnings["skipped <box> shapes"] += 1
                    shape = None
                    return
                get = attrib.get
                lab = label_index.get(get("label"))  # type: ignore[arg-type]
                if lab is None:
                    if get("label") == "":
                        warnings[_UNLABELLED] += 1
                        shape = None
                        return
                    lab = label_id(get("label"), where)
                try:
                    x0 = float(attrib["xtl"])
                    y0 = float(attrib["ytl"])
                    w = float(attrib["xbr"]) - x0
                    h = float(attrib["ybr"]) - y0
                except (KeyError, ValueError):
                    for k in ("xtl", "ytl", "xbr", "ybr"):
                        _float(get(k), k, where)
                    raise
                if not isfinite(x0 + y0 + w + h):
                    for k in ("xtl", "ytl", "xbr", "ybr"):
                        _float(get(k), k, where)
                rot = get("rotation")
                if rot and rot not in _NO_ROTATION:
                    deg = _float(rot, "rotation", where)
                    if deg:
                        x0, y0, w, h = _rotated_bbox(x0, y0, w, h, deg)
                if w < 0 or h < 0:
                    warnings["boxes with negative size (skipped)"] += 1
                    shape = None
                    return
                z = get("z_order")
                bf((_int(z) << 1 if z and z != "0" else 0) | (get("occluded") == "1"))
                bx(x0)
                by(y0)
                bw(w)
                bh(h)
                bl(lab)
                shape = "box"
                box_at = len(blabel) - 1
                shape_attrs = None
                g = get("group_id")
                if g and g != "0":
                    gid = _int(g)
                    if gid:
                        bgroups[box_at] = gid
                        img_grouped = True
            elif tag in ALL_KINDS:
                shape = _shape_start(tag, attrib)
                shape_attrs = None
                g = attrib.get("group_id")
                shape_group = _int(g) if g and g != "0" else 0
            else:
                shape = None
            return
        if meta_path is not None:
            meta_path.append(tag)
            clear()
            if depth == _SHAPE:
                meta_owners[0] += 1
        elif depth == _ATTR and shape is not None:
            if tag == "attribute":
                clear()
                attr_name = attrib.get("name") or ""
                attr_text = None
            else:
                attr_name = None
        elif depth > _ATTR:
            if attr_name is not None and attr_text is None:
                attr_text = "".join(text)  # .text of <attribute>: before its first child
        elif depth == _IMAGE:
            clear()
            _top_start(tag, attrib)
        elif depth == 1 and tag != "annotations":
            raise CvatError(f"{spath}: root element is <{tag}>, expected <annotations> "
                            "(CVAT for images 1.1)")

    def _shape_start(kind: str, attrib: dict[str, str]) -> Any:
        if kind not in keep:
            warnings[f"skipped <{kind}> shapes"] += 1
            return None
        get = attrib.get
        if get("label") == "":
            warnings[_UNLABELLED] += 1
            return None
        lab = label_id(get("label"), where)
        if kind == "polygon":
            data: Any = _points(get("points"), where)
            if len(data) < 6:
                warnings["polygons with fewer than 3 points (skipped)"] += 1
                return None
        elif kind == "mask":
            data = (_int(get("left")), _int(get("top")), _int(get("width")),
                    _int(get("height")), get("rle") or "")
        elif kind in ("polyline", "points"):
            data = _points(get("points"), where)
        else:
            data = None
        return (kind, lab, data, get("occluded") == "1", _int(get("z_order")))

    def _top_start(tag: str, attrib: dict[str, str]) -> None:
        nonlocal shape_depth, img_attrib, where, file_name, b0, others, meta_path
        nonlocal img_groups, img_grouped
        if tag == "image":
            img_attrib = attrib
            img_groups, img_grouped = None, False
            xml_name = attrib.get("name") or ""
            where = f"{spath}: <image id={attrib.get('id')!r} name={xml_name!r}>"
            file_name = safe_file_name(xml_name, where)
            b0 = len(blabel)
            others = None
            shape_depth = _SHAPE
        elif tag == "meta":
            meta_path = []
            saw_meta[0] = True
        elif tag == "track":
            raise CvatError(f"{spath}: has <track> elements (CVAT for video); export the "
                            "task as 'CVAT for images 1.1'")

    def end(tag: str) -> None:
        nonlocal depth, shape, shape_attrs, others, attr_name, img_groups, img_grouped
        d = depth
        depth = d - 1
        if meta_path is not None and d > _IMAGE:
            _meta_end()
        elif d == shape_depth:
            if shape == "box":
                if shape_attrs:
                    battrs[box_at] = tuple(shape_attrs)
            elif shape is not None:
                if others is None:
                    others = []
                others.append((*shape, tuple(shape_attrs) if shape_attrs else None))
                if shape_group:
                    if img_groups is None:
                        img_groups = {}
                    img_groups[len(others) - 1] = shape_group
                    img_grouped = True
            shape = None
        elif d == _ATTR:
            if attr_name is not None:
                value = "".join(text) if attr_text is None else attr_text
                if shape_attrs is None:
                    shape_attrs = []
                shape_attrs.append((attr_name, value))
                attr_name = None
        elif d == _IMAGE:
            _top_end(tag)

    def _meta_end() -> None:
        assert meta_path is not None
        path = tuple(meta_path)
        if path in _META_LABEL_PATHS:
            # (owner, its own labels before those of its tasks, name)
            meta_names.append((meta_owners[0], len(path) > 4, "".join(text).strip()))
        elif path[-1] == "label":
            meta_names.append(None)  # end of one <label>: only its first <name> counts
        meta_path.pop()

    def _top_end(tag: str) -> None:
        nonlocal shape_depth, meta_path, declared
        if tag == "image" and shape_depth > 0:
            shape_depth = -1
            _image_end()
        elif tag == "meta" and meta_path is not None:
            meta_path = None
            declared = _declared(meta_names)
            if labels:
                raise CvatError(f"{spath}: <meta> after <image> elements is not supported")
            for name in declared:
                label_index[name] = len(labels)
                labels.append(name)

    def _image_end() -> None:
        a = img_attrib
        img = CvatImage(a.get("name") or "", file_name, _int(a.get("width")),
                        _int(a.get("height")), a.get("subset"), b0, len(blabel), others,
                        a.get("id"), img_groups, img_grouped)
        prev = images.get(file_name)
        if prev is None:
            images[file_name] = img
        elif _same_content(prev, img, boxes):
            warnings["duplicate <image> entries with identical annotations (merged)"] += 1
            _truncate(boxes, b0)  # keep the first; drop the boxes just appended
        else:
            raise CvatError(
                f"{spath}: file name {file_name!r} is used by two different images: "
                f"{prev.xml_name!r} (subset {prev.subset!r}) and {img.xml_name!r} "
                f"(subset {img.subset!r}); samples are matched by file name — rename one "
                "of them")

    def doctype(*_args: Any) -> None:
        raise CvatError(f"{spath}: has a DOCTYPE; refused")

    target = _Target()
    target.start, target.end, target.data = start, end, text.append
    target.doctype, target.close = doctype, lambda: None
    try:
        if span is None:
            etree.parse(spath, _xml_parser(target))
        else:
            _feed_span(_xml_parser(target), spath, span)
    except etree.XMLSyntaxError as exc:
        raise _malformed(spath, exc) from None
    except CvatError:
        if span is None:
            # libxml2 reports the start tag cut by the end of a truncated file (with the
            # attributes read so far) before the syntax error: name the cut, not the shape
            _check_well_formed(spath)
        raise
    return (CvatAnnotations(spath, labels, images, boxes, warnings, len(declared)),
            bool(meta_names) or saw_meta[0])


def _xml_parser(target: Any) -> Any:
    """The one lxml parser configuration: a target parser, no network, no DTD loading.

    ``resolve_entities="internal"`` makes libxml2 hand over attribute values with their
    character and predefined entity references decoded (``&amp;`` -> ``&``) exactly as an
    XML library's tree does; with ``False`` it returns ``&amp;`` in an attribute as
    ``&#38;``. No other entity can exist: a DOCTYPE is refused before its internal subset
    is read (:func:`_prolog_check` and the target's ``doctype`` callback), and external
    entities are never resolved."""
    from lxml import etree

    return etree.XMLParser(target=target, resolve_entities="internal", no_network=True,
                           load_dtd=False, huge_tree=False, remove_comments=True,
                           remove_pis=True)


def _malformed(spath: str, exc: Any) -> CvatError:
    line, col = getattr(exc, "position", None) or (getattr(exc, "lineno", 0), 0)
    msg = str(getattr(exc, "msg", "") or exc)
    # lxml appends ", line N, column M" and "(file, line N)": said once, in front
    msg = re.sub(r"\s*\([^()]*, line \d+\)$", "", msg)
    msg = re.sub(r", line \d+, column \d+$", "", msg)
    where = f"line {line}, column {col}" if col else f"line {line}"
    return CvatError(f"{spath}: annotations file is malformed or truncated ({where}: "
                     f"{msg}); re-export it from CVAT and upload it again")


class _NullTarget:
    """A target parser that builds nothing (the well-formedness check)."""

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        pass

    def end(self, tag: str) -> None:
        pass

    def data(self, text: str) -> None:
        pass

    def doctype(self, *_args: Any) -> None:
        raise CvatError("has a DOCTYPE")

    def close(self) -> None:
        pass


def _check_well_formed(spath: str) -> None:
    """Raise the "malformed or truncated" error when ``spath`` is not well-formed XML."""
    from lxml import etree

    try:
        etree.parse(spath, _xml_parser(_NullTarget()))
    except etree.XMLSyntaxError as exc:
        raise _malformed(spath, exc) from None
    except CvatError:
        return


#: files from this size on are parsed in two processes (``TC_PARSE_PARALLEL=0`` turns it off)
PARALLEL_MIN_BYTES = 4 * 1024 * 1024
_CHUNK = 1 << 20
_CLOSE_IMAGE = b"</image>"
_XML_DECL = re.compile(rb"""\A<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


def _feed_span(parser: Any, spath: str, span: tuple[int, int, bytes, bytes]) -> None:
    """Feed ``prefix + file[start:end] + suffix`` to a target parser, 1 MB at a time."""
    start, end, prefix, suffix = span
    if prefix:
        parser.feed(prefix)
    with open(spath, "rb") as fh:
        fh.seek(start)
        left = end - start
        while left > 0:
            chunk = fh.read(min(_CHUNK, left))
            if not chunk:
                break
            parser.feed(chunk)
            left -= len(chunk)
    if suffix:
        parser.feed(suffix)
    parser.close()


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def may_fork(switch: str) -> bool:
    """Whether work may go to a forked process: ``os.fork`` exists, two or more CPUs are
    usable, and the environment variable ``switch`` is not ``0``."""
    return os.environ.get(switch) != "0" and hasattr(os, "fork") and usable_cpus() >= 2


def fork_run(work: Callable[[], object]) -> int:
    """Run ``work`` in a forked child, which exits 0 when it returns and 1 on any exception
    (it never returns to the caller's code); the child's pid."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            work()
            code = 0
        except BaseException:
            pass
        finally:
            os._exit(code)
    return pid


def _split_point(spath: str, size: int) -> int | None:
    """The offset just after an ``</image>`` near the middle of a UTF-8 file, or None when
    the file is not certain to split cleanly there (another encoding, comments, CDATA)."""
    with open(spath, "rb") as fh:
        head = fh.read(4096)
        if head.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00", b"\x3c\x00")):
            return None  # UTF-16/32
        decl = _XML_DECL.match(head.lstrip(b"\xef\xbb\xbf"))
        if decl and decl.group(1).lower() not in (b"utf-8", b"utf8", b"us-ascii", b"ascii"):
            return None
        fh.seek(size // 2)
        window = fh.read(_CHUNK)
    at = window.find(_CLOSE_IMAGE)
    if at < 0:
        return None
    return size // 2 + at + len(_CLOSE_IMAGE)


def _parse_halves(spath: str, keep: frozenset[str] | set[str]) -> CvatAnnotations | None:
    """Parse the two halves of a large file at once (this process and a forked one) and
    merge them; None whenever the one-process parse must decide (small file, one CPU, no
    clean split point, any error in either half, a ``<meta>`` or a file name in the second
    half that the first half also has, the forked process failing)."""
    import pickle

    size = os.path.getsize(spath)
    if size < PARALLEL_MIN_BYTES or not may_fork("TC_PARSE_PARALLEL"):
        return None
    cut = _split_point(spath, size)
    if cut is None:
        return None
    read_fd, write_fd = os.pipe()

    def send_second_half() -> None:  # in the child: the second half, sent back pickled
        os.close(read_fd)
        with os.fdopen(write_fd, "wb") as out:
            pickle.dump(_parse(spath, keep, (cut, size, b"<annotations>", b"")), out,
                        protocol=pickle.HIGHEST_PROTOCOL)

    pid = fork_run(send_second_half)
    os.close(write_fd)
    try:
        with os.fdopen(read_fd, "rb") as pipe:
            try:
                first, _ = _parse(spath, keep, (0, cut, b"", b"</annotations>"))
            except CvatError:
                return None
            try:
                second, saw_meta = pickle.load(pipe)
            except Exception:
                return None
    finally:
        _reap(pid)
    if saw_meta or first.images.keys() & second.images.keys():
        return None
    _append(first, second)
    return first


def _reap(pid: int) -> None:
    import signal

    try:
        if os.waitpid(pid, os.WNOHANG) == (0, 0):
            os.kill(pid, signal.SIGKILL)  # the parent is done without it
            os.waitpid(pid, 0)
    except ChildProcessError:  # pragma: no cover - already reaped
        pass


def _append(first: CvatAnnotations, second: CvatAnnotations) -> None:
    """Append the second half's images, boxes, labels and warnings to the first half's, as
    the one-process parse would have found them (labels in order of first appearance)."""
    index = {name: i for i, name in enumerate(first.labels)}
    remap = []
    for name in second.labels:
        if name not in index:
            index[name] = len(first.labels)
            first.labels.append(name)
        remap.append(index[name])
    a, b = first.boxes, second.boxes
    offset = len(a)
    for mine, theirs in ((a.x, b.x), (a.y, b.y), (a.w, b.w), (a.h, b.h), (a.flags, b.flags)):
        mine.extend(theirs)
    if remap == list(range(len(remap))):
        a.label.extend(b.label)
    else:
        a.label.extend(array("i", [remap[i] for i in b.label]))
    for k, v in b.attrs.items():
        a.attrs[k + offset] = v
    for k, g in b.groups.items():
        a.groups[k + offset] = g
    for name, img in second.images.items():
        img.b0 += offset
        img.b1 += offset
        if img.shapes:
            img.shapes = [(kind, remap[lab], *rest) for kind, lab, *rest in img.shapes]
        first.images[name] = img
    first.warnings.update(second.warnings)


def _declared(names: list[tuple[int, bool, str] | None]) -> list[str]:
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


def _truncate(boxes: BoxStore, n: int) -> None:
    for arr in (boxes.x, boxes.y, boxes.w, boxes.h, boxes.label, boxes.flags):
        del arr[n:]
    for k in [k for k in boxes.attrs if k >= n]:
        del boxes.attrs[k]
    for k in [k for k in boxes.groups if k >= n]:
        del boxes.groups[k]


def _same_content(a: CvatImage, b: CvatImage, boxes: BoxStore) -> bool:
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

def cvat_rle_to_coco(left: int, top: int, width: int, height: int, rle: str,
                     img_w: int, img_h: int) -> tuple[dict[str, Any], float, list[float]]:
    """Convert a CVAT mask (row-major runs over its box, starting with 0s; the trailing 0s
    may be left out) to an uncompressed COCO RLE over the whole image (column-major,
    starting with 0s).

    Returns (rle dict, pixel area, bbox [x, y, w, h] of the set pixels).
    """
    return coco_rle(mask_array(left, top, width, height, rle, img_w, img_h), (left, top))


def rle_counts(rle: str, width: int, height: int) -> list[int]:
    """The runs of a CVAT mask RLE (0s first, row-major over its ``width x height`` box).

    The runs may cover fewer pixels than the box: CVAT and datumaro leave out the trailing
    run of 0s (the rest of the box is 0). Covering more pixels than the box, a negative run
    or a count that is not an integer is an error."""
    if width <= 0 or height <= 0:
        raise CvatError(f"mask with empty box {width}x{height}")
    try:
        counts = [int(c) for c in rle.replace(" ", "").split(",") if c] if rle else []
    except ValueError:
        raise CvatError(f"mask rle {rle[:40]!r} is not a comma list of counts") from None
    if any(c < 0 for c in counts):
        raise CvatError(f"mask rle {rle[:40]!r} has a negative count")
    if sum(counts) > width * height:
        raise CvatError(f"mask rle covers {sum(counts)} pixels, box is {width}x{height}")
    return counts


def mask_array(left: int, top: int, width: int, height: int, rle: str, img_w: int,
               img_h: int) -> Any:
    """A CVAT mask as a 0/1 uint8 array of the whole image (clipped to it)."""
    import numpy as np

    counts = rle_counts(rle, width, height)
    flat = np.zeros(width * height, dtype=np.uint8)
    pos = 0
    val = 0
    for c in counts:
        if val:
            flat[pos:pos + c] = 1
        pos += c
        val ^= 1
    local = flat.reshape(height, width)
    if img_w <= 0 or img_h <= 0:
        img_w, img_h = left + width, top + height
    full = np.zeros((img_h, img_w), dtype=np.uint8)
    x0, y0 = max(left, 0), max(top, 0)
    x1, y1 = min(left + width, img_w), min(top + height, img_h)
    if x1 > x0 and y1 > y0:
        full[y0:y1, x0:x1] = local[y0 - top:y1 - top, x0 - left:x1 - left]
    return full


def coco_rle(full: Any, empty_at: tuple[int, int] = (0, 0)
             ) -> tuple[dict[str, Any], float, list[float]]:
    """(uncompressed COCO RLE, pixel area, bbox of the set pixels) of a 0/1 uint8 image
    array; an empty one has the bbox ``[*empty_at, 0, 0]``."""
    import numpy as np

    img_h, img_w = full.shape
    col = full.flatten(order="F")
    change = np.flatnonzero(np.diff(col)) + 1
    bounds = np.concatenate(([0], change, [col.size]))
    runs = np.diff(bounds).tolist()
    if col.size and col[0] == 1:
        runs = [0, *runs]
    area = float(full.sum())
    ys, xs = np.nonzero(full)
    if xs.size:
        bbox = [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1),
                float(ys.max() - ys.min() + 1)]
    else:
        bbox = [float(empty_at[0]), float(empty_at[1]), 0.0, 0.0]
    return {"counts": runs, "size": [img_h, img_w]}, area, bbox


def mask_pixel_box(left: int, top: int, width: int, height: int, rle: str,
                   img_w: int, img_h: int) -> tuple[list[float], float]:
    """(bbox [x, y, w, h] of the set pixels, pixel count) of a CVAT mask, in image pixels.

    The box comes from the decoded pixels, not from the declared ``left/top/width/height``
    (real exports carry empty margins). Pure Python over the runs (no image-sized array);
    a mask reaching outside the image is clipped as :func:`cvat_rle_to_coco` clips it (it
    is used then). An empty mask gives ``[left, top, 0, 0]`` and 0, as that function does.
    """
    if img_w > 0 and img_h > 0 and (left < 0 or top < 0 or left + width > img_w
                                    or top + height > img_h):
        _rle, area, bbox = cvat_rle_to_coco(left, top, width, height, rle, img_w, img_h)
        return bbox, area
    counts = rle_counts(rle, width, height)
    x0, y0, x1, y1 = width, height, -1, -1
    pos, area = 0, 0
    for i, c in enumerate(counts):
        if i & 1 and c:
            r0, r1 = divmod(pos, width), divmod(pos + c - 1, width)
            y0, y1 = min(y0, r0[0]), max(y1, r1[0])
            if r0[0] == r1[0]:
                x0, x1 = min(x0, r0[1]), max(x1, r1[1])
            else:  # the run wraps: it reaches the last column of one row, the first of the next
                x0, x1 = 0, width - 1
            area += c
        pos += c
    if area == 0:
        return [float(left), float(top), 0.0, 0.0], 0.0
    return ([float(left + x0), float(top + y0), float(x1 - x0 + 1), float(y1 - y0 + 1)],
            float(area))


def polygon_area(flat: list[float]) -> float:
    """Shoelace area of a flat [x1, y1, x2, y2, ...] polygon."""
    xs, ys = flat[0::2], flat[1::2]
    n = len(xs)
    s = 0.0
    for i in range(n):
        j = (i + 1) % n
        s += xs[i] * ys[j] - xs[j] * ys[i]
    return abs(s) / 2.0


def polygon_bbox(flat: list[float]) -> list[float]:
    xs, ys = flat[0::2], flat[1::2]
    return [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]
