# Managed by tc (`tc update` brings its new versions) — edit train.py instead.
"""COCO ``labels.json`` of the dataset stage, streamed: the head (info, categories,
images), one line per annotation (boxes, polygons, masks as RLE, CVAT groups as one object),
the tail. printf-style formatting is the fast path for millions of lines."""

# ruff: noqa: UP031
from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import cvat_dataset as cvat
from dataset_base import DatasetError, Sample, StageContext


def _attrs_json(occluded: bool, z: int, extra: Iterable[tuple[str, str]] | None) -> str:
    s = '{"occluded":%s,"z_order":%d' % ("true" if occluded else "false", z)
    if extra:
        for k, v in extra:
            s += "," + json.dumps(k) + ":" + json.dumps(v)
    return s + "}"


#: one COCO annotation line per <box> (detection; segmentation adds the 4-corner polygon)
_BOX_LINE = ('{"id":%d,"image_id":%d,"category_id":%d,"bbox":[%.10g,%.10g,%.10g,%.10g],'
             '"area":%.10g,"iscrowd":0,"attributes":%s}')
_SEG_BOX_LINE = ('{"id":%d,"image_id":%d,"category_id":%d,"bbox":[%.10g,%.10g,%.10g,%.10g],'
                 '"area":%.10g,"iscrowd":0,"segmentation":[[%.10g,%.10g,%.10g,%.10g,%.10g,'
                 '%.10g,%.10g,%.10g]],"attributes":%s}')


def _box_lines(lines: list[str], aid: int, iid: int, img: cvat.CvatImage,
               ann: cvat.CvatAnnotations, seg: bool, plain: dict[int, str]) -> int:
    """Append the annotation lines of an image's boxes; returns the next annotation id.
    ``plain`` caches the attributes JSON of boxes without CVAT attributes, by flags."""
    b = ann.boxes
    bx, by, bw, bh, bl, bf, ba = b.x, b.y, b.w, b.h, b.label, b.flags, b.attrs
    add = lines.append
    for k in range(img.b0, img.b1):
        x, y, w, h = bx[k], by[k], bw[k], bh[k]
        f = bf[k]
        at = _attrs_json(bool(f & 1), f >> 1, ba[k]) if ba and k in ba else plain.get(f)
        if at is None:
            at = plain[f] = _attrs_json(bool(f & 1), f >> 1, None)
        if seg:
            x2, y2 = x + w, y + h
            add(_SEG_BOX_LINE % (aid, iid, bl[k] + 1, x, y, w, h, w * h,
                                 x, y, x2, y, x2, y2, x, y2, at))
        else:
            add(_BOX_LINE % (aid, iid, bl[k] + 1, x, y, w, h, w * h, at))
        aid += 1
    return aid


def _shape_line(ctx: StageContext, aid: int, s: Sample, shape: tuple[Any, ...],
                ann: cvat.CvatAnnotations) -> str | None:
    """The annotation line of a polygon or mask (None for other kinds)."""
    kind, lab, data, occ, z, extra = shape
    a: dict[str, Any] = {"id": aid, "image_id": s.id, "category_id": lab + 1}
    if kind == "polygon":
        a["bbox"] = cvat.polygon_bbox(data)
        a["area"] = cvat.polygon_area(data)
        a["iscrowd"] = 0
        a["segmentation"] = [data]
    elif kind == "mask":
        left, top, mw, mh, rle = data
        if ctx.task == "segmentation":
            try:
                rle_d, area, bbox = cvat.cvat_rle_to_coco(left, top, mw, mh, rle, s.width,
                                                          s.height)
            except cvat.CvatError as exc:
                xml_name = s.image.xml_name if s.image else s.file_name
                raise DatasetError(f"{ann.path}: image {xml_name!r}: {exc}") from None
            a["bbox"], a["area"], a["iscrowd"] = bbox, area, 1
            a["segmentation"] = rle_d
        else:  # the box of the mask's pixels (declared boxes carry empty margins)
            try:
                a["bbox"], a["area"] = cvat.mask_pixel_box(left, top, mw, mh, rle, s.width,
                                                           s.height)
            except cvat.CvatError as exc:
                xml_name = s.image.xml_name if s.image else s.file_name
                raise DatasetError(f"{ann.path}: image {xml_name!r}: {exc}") from None
            a["iscrowd"] = 0
    else:
        return None
    a["attributes"] = json.loads(_attrs_json(occ, z, extra))
    return json.dumps(a, separators=(",", ":"))


def group_parts(img: cvat.CvatImage, ann: cvat.CvatAnnotations
                 ) -> list[tuple[int, list[tuple[Any, ...]]]]:
    """The training objects of an image with CVAT groups, in output order (boxes, then
    polygons and masks): (group id or 0, parts); parts are shape tuples (boxes as
    ``("box", label, (x, y, w, h), occluded, z_order, attrs)``). The parts of one object are
    the shapes with the same non-zero ``group_id`` and the same label (a group of several
    labels, e.g. a person and their bag, stays one object per label)."""
    b = ann.boxes
    objects: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {}
    gid: dict[tuple[Any, ...], int] = {}
    for k in range(img.b0, img.b1):
        f = b.flags[k]
        g = b.groups.get(k, 0)
        key = (g, b.label[k]) if g else ("box", k)
        objects.setdefault(key, []).append(
            ("box", b.label[k], (b.x[k], b.y[k], b.w[k], b.h[k]), bool(f & 1), f >> 1,
             b.attrs.get(k)))
        gid[key] = g
    groups = img.groups or {}
    for i, shape in enumerate(img.shapes or ()):
        if shape[0] in ("polygon", "mask"):
            g = groups.get(i, 0)
            key = (g, shape[1]) if g else ("shape", i)
            objects.setdefault(key, []).append(shape)
            gid[key] = g
    return [(gid[key], parts) for key, parts in objects.items()]


def part_box(ctx: StageContext, s: Sample, part: tuple[Any, ...],
              ann: cvat.CvatAnnotations) -> tuple[list[float], float]:
    """(bbox, area) of one part: a box, a polygon, or the pixels of a mask."""
    kind, data = part[0], part[2]
    if kind == "box":
        x, y, w, h = data
        return [x, y, w, h], w * h
    if kind == "polygon":
        return cvat.polygon_bbox(data), cvat.polygon_area(data)
    left, top, mw, mh, rle = data
    try:
        return cvat.mask_pixel_box(left, top, mw, mh, rle, s.width, s.height)
    except cvat.CvatError as exc:
        xml_name = s.image.xml_name if s.image else s.file_name
        raise DatasetError(f"{ann.path}: image {xml_name!r}: {exc}") from None


def union_box(boxes: list[list[float]]) -> list[float]:
    x0 = min(b[0] for b in boxes)
    y0 = min(b[1] for b in boxes)
    x1 = max(b[0] + b[2] for b in boxes)
    y1 = max(b[1] + b[3] for b in boxes)
    return [x0, y0, x1 - x0, y1 - y0]


def _group_line(ctx: StageContext, aid: int, s: Sample, gid: int,
                parts: list[tuple[Any, ...]], ann: cvat.CvatAnnotations) -> str:
    """The one annotation line of a CVAT group: the union of its parts' boxes; with
    segmentation the parts' polygons (boxes as 4-corner polygons), or, when a part is a
    mask, one mask of every part's pixels (RLE, ``iscrowd: 1``)."""
    _kind, lab, _data, occ, z, extra = parts[0]
    a: dict[str, Any] = {"id": aid, "image_id": s.id, "category_id": lab + 1}
    boxes = [part_box(ctx, s, p, ann) for p in parts]
    if ctx.task == "segmentation" and any(p[0] == "mask" for p in parts):
        import numpy as np
        from PIL import Image, ImageDraw

        canvas = Image.new("L", (s.width, s.height), 0)
        draw = ImageDraw.Draw(canvas)
        full = np.zeros((s.height, s.width), dtype=np.uint8)
        for p, (bb, _area) in zip(parts, boxes, strict=True):
            if p[0] == "mask":
                left, top, mw, mh, rle = p[2]
                full |= cvat.mask_array(left, top, mw, mh, rle, s.width, s.height)
            else:
                x, y, w, h = bb
                flat = p[2] if p[0] == "polygon" else [x, y, x + w, y, x + w, y + h, x, y + h]
                draw.polygon(list(zip(flat[0::2], flat[1::2], strict=True)), fill=1)
        full |= np.asarray(canvas, dtype=np.uint8)
        rle, area, bbox = cvat.coco_rle(full)
        a["bbox"], a["area"], a["iscrowd"], a["segmentation"] = bbox, area, 1, rle
    else:
        a["bbox"] = union_box([b for b, _area in boxes])
        a["area"] = float(sum(area for _b, area in boxes))
        a["iscrowd"] = 0
        if ctx.task == "segmentation":
            polys = []
            for p, (bb, _area) in zip(parts, boxes, strict=True):
                x, y, w, h = bb
                polys.append(p[2] if p[0] == "polygon" else
                             [x, y, x + w, y, x + w, y + h, x, y + h])
            a["segmentation"] = polys
    attrs = json.loads(_attrs_json(occ, z, extra))
    attrs["group_id"] = gid
    a["attributes"] = attrs
    return json.dumps(a, separators=(",", ":"))


def _grouped_lines(ctx: StageContext, lines: list[str], aid: int, s: Sample,
                   ann: cvat.CvatAnnotations, plain: dict[int, str]) -> int:
    """The annotation lines of an image with CVAT groups (one per object)."""
    assert s.image is not None
    seg = ctx.task == "segmentation"
    for gid, parts in group_parts(s.image, ann):
        if len(parts) > 1:
            lines.append(_group_line(ctx, aid, s, gid, parts, ann))
        elif parts[0][0] == "box":
            _kind, lab, (x, y, w, h), occ, z, extra = parts[0]
            f = int(occ) | (z << 1)
            at = _attrs_json(occ, z, extra) if extra else plain.get(f)
            if at is None:
                at = plain[f] = _attrs_json(occ, z, None)
            if seg:
                x2, y2 = x + w, y + h
                lines.append(_SEG_BOX_LINE % (aid, s.id, lab + 1, x, y, w, h, w * h,
                                              x, y, x2, y, x2, y2, x, y2, at))
            else:
                lines.append(_BOX_LINE % (aid, s.id, lab + 1, x, y, w, h, w * h, at))
        else:
            line = _shape_line(ctx, aid, s, parts[0], ann)
            assert line is not None
            lines.append(line)
        aid += 1
    return aid


def coco_head(ctx: StageContext, split: str, samples: Sequence[Sample],
              ann: cvat.CvatAnnotations) -> str:
    """A COCO file up to its annotations: info, categories, images, ``"annotations":[``."""
    info = {"description": f"dataset {ctx.dataset_id}, split {split}",
            "dataset_id": ctx.dataset_id, "split": split, "task": ctx.task}
    head = {"info": info, "licenses": [],
            "categories": [{"id": i + 1, "name": n, "supercategory": ""}
                           for i, n in enumerate(ann.labels)]}
    dumps = json.dumps
    return "".join((dumps(head)[:-1] + ',"images":[\n',
                    ",\n".join('{"id":%d,"file_name":%s,"width":%d,"height":%d}'
                               % (s.id, dumps(s.file_name), s.width, s.height) for s in samples),
                    '\n],"annotations":[\n'))


COCO_TAIL = "\n]}\n"


def write_annotations(ctx: StageContext, fh: Any, samples: Sequence[Sample],
                      ann: cvat.CvatAnnotations, next_ann_id: int, *, after: bool = False
                      ) -> int:
    """Write the annotation lines of ``samples`` (``,\n`` between them; one before the first
    too when ``after`` other lines), streaming. Returns the next free annotation id."""
    det = ctx.task in ("detection", "segmentation")
    seg = ctx.task == "segmentation"
    lines: list[str] = []
    first_chunk = not after
    plain: dict[int, str] = {}
    aid = next_ann_id
    for s in samples:
        img = s.image
        if img is None:
            continue
        if len(lines) >= 20000:
            fh.write(("" if first_chunk else ",\n") + ",\n".join(lines))
            first_chunk = False
            lines.clear()
        if not det:
            if s.labels:
                tags = [t for t in (img.shapes or ()) if t[0] == "tag"]
                for lab in ([t[1] for t in tags] if tags else [s.primary]):
                    lines.append('{"id":%d,"image_id":%d,"category_id":%d}'
                                 % (aid, s.id, lab + 1))
                    aid += 1
            continue
        if img.grouped:
            aid = _grouped_lines(ctx, lines, aid, s, ann, plain)
            continue
        if img.b1 > img.b0:
            aid = _box_lines(lines, aid, s.id, img, ann, seg, plain)
        for shape in img.shapes or ():
            line = _shape_line(ctx, aid, s, shape, ann)
            if line is not None:
                lines.append(line)
                aid += 1
    if lines:
        fh.write(("" if first_chunk else ",\n") + ",\n".join(lines))
    return aid


def write_coco(ctx: StageContext, path: Path, split: str, samples: Sequence[Sample],
               ann: cvat.CvatAnnotations, next_ann_id: int) -> int:
    """Write one COCO ``labels.json``, streaming. Returns the next free annotation id."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(coco_head(ctx, split, samples, ann))
        aid = write_annotations(ctx, fh, samples, ann, next_ann_id)
        fh.write(COCO_TAIL)
    os.replace(tmp, path)
    return aid


def annotation_counts(ctx: StageContext, samples: Sequence[Sample],
                      ann: cvat.CvatAnnotations) -> list[int]:
    """How many annotations :func:`write_annotations` writes for each sample."""
    det = ctx.task in ("detection", "segmentation")
    out = []
    for s in samples:
        img = s.image
        if img is None:
            out.append(0)
        elif not det:
            out.append((sum(1 for t in (img.shapes or ()) if t[0] == "tag") or 1)
                       if s.labels else 0)
        elif img.grouped:
            out.append(len(group_parts(img, ann)))
        else:
            out.append(img.b1 - img.b0 + sum(1 for shape in img.shapes or ()
                                              if shape[0] in ("polygon", "mask")))
    return out
