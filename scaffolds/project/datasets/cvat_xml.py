# Managed by tc (`tc update` brings its new versions) — edit train.py instead.
"""The one-process, streaming parse of a CVAT for images 1.1 ``annotations.xml``.

lxml's *target parser* (configured in cvat_xmlsafe.py) calls back on every start and end
tag: no element tree is built. :func:`parse_xml` parses a whole file or a byte span of it
(the second half of a large file, see cvat_parallel.py). The parser's state lives in one
closure: its callbacks are the hot path, and local variables are the fastest state CPython
has.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from cvat_model import (
    ALL_KINDS,
    BoxStore,
    CvatAnnotations,
    CvatError,
    CvatImage,
    declared_labels,
    parse_float,
    parse_int,
    parse_points,
    rotated_bbox,
    safe_file_name,
    same_content,
    truncate_boxes,
)
from cvat_xmlsafe import check_well_formed, malformed, xml_parser

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



def parse_xml(spath: str, keep: frozenset[str] | set[str],
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
                        parse_float(get(k), k, where)
                    raise
                if not isfinite(x0 + y0 + w + h):
                    for k in ("xtl", "ytl", "xbr", "ybr"):
                        parse_float(get(k), k, where)
                rot = get("rotation")
                if rot and rot not in _NO_ROTATION:
                    deg = parse_float(rot, "rotation", where)
                    if deg:
                        x0, y0, w, h = rotated_bbox(x0, y0, w, h, deg)
                if w < 0 or h < 0:
                    warnings["boxes with negative size (skipped)"] += 1
                    shape = None
                    return
                z = get("z_order")
                bf((parse_int(z) << 1 if z and z != "0" else 0) | (get("occluded") == "1"))
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
                    gid = parse_int(g)
                    if gid:
                        bgroups[box_at] = gid
                        img_grouped = True
            elif tag in ALL_KINDS:
                shape = _shape_start(tag, attrib)
                shape_attrs = None
                g = attrib.get("group_id")
                shape_group = parse_int(g) if g and g != "0" else 0
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
            data: Any = parse_points(get("points"), where)
            if len(data) < 6:
                warnings["polygons with fewer than 3 points (skipped)"] += 1
                return None
        elif kind == "mask":
            data = (parse_int(get("left")), parse_int(get("top")), parse_int(get("width")),
                    parse_int(get("height")), get("rle") or "")
        elif kind in ("polyline", "points"):
            data = parse_points(get("points"), where)
        else:
            data = None
        return (kind, lab, data, get("occluded") == "1", parse_int(get("z_order")))

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
            declared = declared_labels(meta_names)
            if labels:
                raise CvatError(f"{spath}: <meta> after <image> elements is not supported")
            for name in declared:
                label_index[name] = len(labels)
                labels.append(name)

    def _image_end() -> None:
        a = img_attrib
        img = CvatImage(a.get("name") or "", file_name, parse_int(a.get("width")),
                        parse_int(a.get("height")), a.get("subset"), b0, len(blabel), others,
                        a.get("id"), img_groups, img_grouped)
        prev = images.get(file_name)
        if prev is None:
            images[file_name] = img
        elif same_content(prev, img, boxes):
            warnings["duplicate <image> entries with identical annotations (merged)"] += 1
            truncate_boxes(boxes, b0)  # keep the first; drop the boxes just appended
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
            etree.parse(spath, xml_parser(target))
        else:
            feed_span(xml_parser(target), spath, span)
    except etree.XMLSyntaxError as exc:
        raise malformed(spath, exc) from None
    except CvatError:
        if span is None:
            # libxml2 reports the start tag cut by the end of a truncated file (with the
            # attributes read so far) before the syntax error: name the cut, not the shape
            check_well_formed(spath)
        raise
    return (CvatAnnotations(spath, labels, images, boxes, warnings, len(declared)),
            bool(meta_names) or saw_meta[0])



#: bytes fed to the parser at a time
CHUNK = 1 << 20


def feed_span(parser: Any, spath: str, span: tuple[int, int, bytes, bytes]) -> None:
    """Feed ``prefix + file[start:end] + suffix`` to a target parser, 1 MB at a time."""
    start, end, prefix, suffix = span
    if prefix:
        parser.feed(prefix)
    with open(spath, "rb") as fh:
        fh.seek(start)
        left = end - start
        while left > 0:
            chunk = fh.read(min(CHUNK, left))
            if not chunk:
                break
            parser.feed(chunk)
            left -= len(chunk)
    if suffix:
        parser.feed(suffix)
    parser.close()
