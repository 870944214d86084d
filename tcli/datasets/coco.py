"""COCO detection/segmentation JSON reader (the layout of a source: :mod:`.coco_layout`).

Files up to ``TC_COCO_STREAM_MB`` (64) MB are read with ``json.load`` (fastest); larger ones
are streamed with ijson, three passes (categories, images, annotations), and annotations are
kept in flat arrays (about 60 bytes per box), so memory grows with the output, not with the
JSON's Python objects. Mapping to CVAT: ``bbox`` -> ``<box>``; polygon ``segmentation`` ->
``<polygon>`` (several parts: one polygon each, sharing a ``group_id``); RLE -> ``<mask>``;
``attributes`` (CVAT's COCO export) -> occluded / z_order / rotation / ``<attribute>``.

About 440 lines: the flat-array fast path of plain boxes and the slow path of everything
else (polygons, masks, tags, refusals) read one annotation stream together.
"""

from __future__ import annotations

import json
import os
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn
from xml.sax.saxutils import quoteattr

from tcli.errors import InputError

from . import rle
from .coco_layout import _drop_placeholders, _image_base, _panoptic, _subset
from .cvat_writer import BOX_XML, mask_runs
from .fsutil import InsideResolver, unreferenced_images
from .model import Losses, Record, Shape, Source

IMAGE_KEYS = {"id", "file_name", "width", "height"}
ANN_KEYS = {"id", "image_id", "category_id", "bbox", "segmentation", "area", "iscrowd",
            "attributes"}
CAT_KEYS = {"id", "name", "supercategory"}


#: coordinates beyond this (px) are refused (NaN, infinity and 1e308 included)
MAX_COORD = 1e6
INVALID_BOX = "annotations with NaN, infinite, negative-size or huge (> 1e6 px) numbers (refused)"


def looks_like_coco(path: Path) -> bool:
    """A JSON file whose first 64 KiB mention ``"images"`` or ``"annotations"``."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(65536)
    except OSError:
        return False
    return head.lstrip().startswith(b"{") and (b'"images"' in head or b'"annotations"' in head
                                               or b'"categories"' in head)


def _load(path: Path) -> tuple[list[dict[str, Any]] | None, list[dict[str, Any]],
                               Iterator[dict[str, Any]]]:
    limit = float(os.environ.get("TC_COCO_STREAM_MB") or 64) * 1e6
    if path.stat().st_size <= limit:
        try:
            with open(path, "rb") as fh:
                doc = json.load(fh)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InputError(f"{path}: not valid JSON ({exc})") from None
        except RecursionError:
            raise InputError(f"{path}: JSON nested too deeply (not COCO)") from None
        if not isinstance(doc, dict):
            raise InputError(f"{path}: not COCO (the top level is not an object)")
        anns = doc.get("annotations") or []
        if not isinstance(anns, list):
            raise InputError(f"{path}: 'annotations' is not a list")
        images = doc.get("images")
        return images, doc.get("categories") or [], iter(anns)
    import ijson

    def items(prefix: str) -> Iterator[Any]:
        fh = open(path, "rb")  # noqa: SIM115 - closed when the generator ends
        try:
            yield from ijson.items(fh, prefix, use_float=True)
        except ijson.JSONError as exc:
            raise InputError(f"{path}: not valid JSON ({exc})") from None
        finally:
            fh.close()

    imgs = next(items("images"), None)
    cats = next(items("categories"), None) or []
    return imgs, cats, items("annotations.item")


def read_coco(root: Path, files: list[Path], losses: Losses, skip: Path | None = None
              ) -> Source:
    """Read one or more COCO JSON files under ``root`` (several: one subset each)."""
    labels: list[str] = []
    by_name: dict[str, int] = {}
    src = Source("coco", root, labels, lambda: iter(()), losses)
    parts: list[tuple[Path, list[dict[str, Any]], dict[Any, int], _Anns, Path | None,
                      str | None]] = []
    placeholders: dict[int, str] = {}
    for path in files:
        images, cats, anns = _load(path)
        if images is None:
            raise InputError(f"{path}: not COCO: field 'images' is missing",
                             hint="a COCO file has 'images', 'annotations' and 'categories'")
        if not isinstance(images, list):
            raise InputError(f"{path}: field 'images' is not a list")
        sub = _subset(path, root)
        base, looked = _image_base(root, path, images, sub)
        if base is None and images:
            where = ", ".join(looked)
            first = images[0].get("file_name") if isinstance(images[0], dict) else None
            if len(files) == 1:
                raise InputError(f"{path}: none of its first images (e.g. {str(first)!r}) was "
                                 f"found; looked in {where}", hint="give the folder that holds "
                                 "the images and the annotations (e.g. annotations/ beside "
                                 "images/ or train2017/)")
            losses.add("COCO files whose images are not there (left out)",
                       f"{path.name} (looked in {where})")
            continue  # its categories and annotations are not read either
        cat_index: dict[Any, int] = {}
        file_names: set[str] = set()
        supers = {(c.get("supercategory"), c.get("name")) for c in cats if isinstance(c, dict)}
        for k, c in enumerate(cats):
            if not isinstance(c, dict) or "id" not in c or not isinstance(c.get("name"), str):
                raise InputError(f"{path}: categories[{k}] needs an 'id' and a 'name'")
            name = c["name"]
            if c["id"] in cat_index:
                raise InputError(f"{path}: categories[{k}]: id {c['id']} is used twice")
            if name in file_names:
                raise InputError(f"{path}: categories[{k}]: name {name!r} is used twice "
                                 "(CVAT labels are names)")
            file_names.add(name)
            if name not in by_name:
                by_name[name] = len(labels)
                labels.append(name)
            cat_index[c["id"]] = by_name[name]
            if any(sup == name and n != name for sup, n in supers):
                placeholders[by_name[name]] = name  # a parent of others: a class if used
            for key in c:
                if key not in CAT_KEYS:
                    losses.add(f"category field {key!r} (not carried)", name)
            if c.get("supercategory"):
                losses.add("category supercategory (not carried)", f"{name}: {c['supercategory']}")
        img_index: dict[Any, int] = {}
        for k, im in enumerate(images):
            if not isinstance(im, dict) or "id" not in im or "file_name" not in im:
                raise InputError(f"{path}: images[{k}] needs an 'id' and a 'file_name'")
            if im["id"] in img_index:
                raise InputError(f"{path}: images[{k}]: id {im['id']} is used twice")
            img_index[im["id"]] = k
            for key in im:
                if key not in IMAGE_KEYS:
                    losses.add(f"image field {key!r} (not carried)", str(im["file_name"]))
        store = _Anns()
        store.read(path, anns, img_index, cat_index, src)
        src.annotated += store.seen
        parts.append((path, images, img_index, store, base, sub))
    if placeholders:
        _drop_placeholders(src, [p[3] for p in parts], placeholders)

    def records() -> Iterator[Record]:
        used: set[str] = set()
        for path, images, _idx, store, base, sub in parts:
            if base is None:  # a file without images: nothing to find
                continue
            for rec in _records(root, path, images, store, src, sub, base):
                used.add(rec.rel)
                yield rec
        src.unreferenced = unreferenced_images(root, used, skip)

    src.records = records
    return src


class _Anns:
    """Annotations of one file in flat arrays; polygons, masks, attributes on the side."""

    def __init__(self) -> None:
        self.img = array("i")
        self.cat = array("i")
        self.box = array("d")  # x, y, w, h per annotation
        self.flags = array("q")  # occluded bit 0, z_order above
        self.other: dict[int, list[Shape]] = {}  # annotation index -> polygons/masks
        self.attrs: dict[int, tuple[tuple[str, str], ...]] = {}
        self.rot: dict[int, float] = {}
        self.group = 0
        self.seen = 0  # annotations in the file

    def read(self, path: Path, anns: Iterator[dict[str, Any]], img_index: dict[Any, int],
             cat_index: dict[Any, int], src: Source) -> None:
        losses = src.losses
        img_a, cat_a, box_a, flags_a = self.img, self.cat, self.box, self.flags
        n = len(cat_a)
        k = -1
        for k, a in enumerate(anns):
            try:  # the common case first; the messages are made only on the error path
                ii = img_index[a["image_id"]]
                ci = cat_index[a["category_id"]]
            except (KeyError, TypeError):
                self._bad_ref(path, k, a, img_index)
            if not a.keys() <= ANN_KEYS:
                for key in sorted(a.keys() - ANN_KEYS):
                    losses.add(f"annotation field {key!r} (not carried)", f"id {a.get('id', k)}")
            at = a.get("attributes")
            occ, z, attrs, rot = _attributes(at, ci, src) if at else (False, 0, (), 0.0)
            seg = a.get("segmentation")
            bbox = a.get("bbox")
            if not seg and type(bbox) is list and len(bbox) == 4 and not a.get("iscrowd"):
                try:  # the common case: a plain box (NaN fails every comparison)
                    x, y, w, h = bbox
                    ok = (0 <= w < MAX_COORD and 0 <= h < MAX_COORD and -MAX_COORD < x < MAX_COORD
                          and -MAX_COORD < y < MAX_COORD)
                    if ok:
                        box_a.extend(bbox)
                except TypeError:
                    raise InputError(f"{path}: annotations[{k}] (id {a.get('id', k)}): bbox "
                                     f"{bbox!r} is not 4 numbers") from None
                if not ok:
                    losses.add(INVALID_BOX, f"id {a.get('id', k)}: bbox {bbox!r}")
                    continue
                img_a.append(ii)
                cat_a.append(ci)
                flags_a.append((z << 1) | occ)
                if attrs:
                    self.attrs[n] = attrs
                if rot:
                    self.rot[n] = rot
                n += 1
                continue
            aid = a.get("id", k)
            shapes: list[Shape] = []
            if isinstance(seg, list) and seg:
                if not _finite(seg) or (isinstance(bbox, list) and len(bbox) == 4
                                         and not _box_ok(bbox)):
                    losses.add(INVALID_BOX, f"id {aid}")
                    continue
                parts = [p for p in seg if isinstance(p, list) and len(p) >= 6]
                if len(parts) < len(seg):
                    losses.add("polygons with fewer than 3 points (skipped)", f"id {aid}")
                group = 0
                if len(parts) > 1:
                    self.group += 1
                    group = self.group
                    losses.add("multi-part polygons (one <polygon> per part, same group_id)",
                               f"id {aid}")
                for p in parts:
                    shapes.append(Shape("polygon", ci, [float(v) for v in p], occ, z, attrs,
                                        group))
                if parts and isinstance(bbox, list) and len(bbox) == 4:
                    xs = [v for p in parts for v in p[0::2]]
                    ys = [v for p in parts for v in p[1::2]]
                    ext = (min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))
                    if any(abs(float(u) - v) > 0.01 for u, v in zip(bbox, ext, strict=True)):
                        losses.add("bbox differs from its polygon's extent (CVAT keeps the "
                                   "polygon)", f"id {aid}")
            elif isinstance(seg, dict):
                try:
                    m = rle.decode(seg)
                except (KeyError, TypeError, ValueError) as exc:
                    raise InputError(f"{path}: annotations[{k}] (id {aid}): segmentation RLE "
                                     f"is invalid ({exc})") from None
                runs = mask_runs(m)
                if runs is None:
                    losses.add("empty masks (skipped)", f"id {aid}")
                else:
                    shapes.append(Shape("mask", ci, runs, occ, z, attrs))
            if a.get("iscrowd") and not isinstance(seg, dict):
                losses.add("iscrowd=1 on a box/polygon (not carried)", f"id {aid}")
            if shapes:
                self.other[n] = shapes
                box_a.extend((0.0, 0.0, -1.0, -1.0))
            elif isinstance(bbox, list) and len(bbox) == 4:
                try:
                    vals = [float(v) for v in bbox]
                except (TypeError, ValueError):
                    raise InputError(f"{path}: annotations[{k}] (id {aid}): bbox {bbox!r} is "
                                     "not 4 numbers") from None
                if not _box_ok(vals):
                    losses.add(INVALID_BOX, f"id {aid}: bbox {bbox!r}")
                    continue
                box_a.extend(vals)
            elif not seg and not bbox and not a.get("iscrowd"):
                # an image-level label (no geometry): a CVAT tag
                self.other[n] = [Shape("tag", ci, None, False, 0, attrs)]
                box_a.extend((0.0, 0.0, -1.0, -1.0))
            else:
                losses.add("annotations whose segmentation cannot be read (skipped)",
                           f"id {aid}")
                continue
            img_a.append(ii)
            cat_a.append(ci)
            flags_a.append((z << 1) | int(occ))
            if attrs:
                self.attrs[n] = attrs
            if rot:
                self.rot[n] = rot
            n += 1
        self.seen += k + 1

    @staticmethod
    def _bad_ref(path: Path, k: int, a: Any, img_index: dict[Any, int]) -> NoReturn:
        if not isinstance(a, dict):
            raise InputError(f"{path}: annotations[{k}] is not an object")
        if "segments_info" in a:
            _panoptic(path)
        if "caption" in a and "category_id" not in a:
            raise InputError(f"{path}: a COCO captions file (captions are not supported: no "
                             "categories)", hint="import the instances_*.json instead")
        aid = a.get("id", k)
        try:
            img_index[a.get("image_id")]
        except (KeyError, TypeError):
            raise InputError(f"{path}: annotations[{k}] (id {aid}): image_id "
                             f"{a.get('image_id')!r} is not in 'images'") from None
        raise InputError(f"{path}: annotations[{k}] (id {aid}): category_id "
                         f"{a.get('category_id')!r} is not in 'categories'")


def _box_ok(b: list[Any]) -> bool:
    try:
        x, y, w, h = b
        return bool(0 <= w < MAX_COORD and 0 <= h < MAX_COORD and -MAX_COORD < x < MAX_COORD
                    and -MAX_COORD < y < MAX_COORD)
    except (TypeError, ValueError):
        return False


def _finite(seg: list[Any]) -> bool:
    """Every number of a polygon list within +-MAX_COORD (NaN and infinity fail)."""
    try:
        return all(-MAX_COORD < v < MAX_COORD for p in seg if isinstance(p, list) for v in p)
    except TypeError:
        return False


def _attributes(value: Any, label: int, src: Source
                ) -> tuple[bool, int, tuple[tuple[str, str], ...], float]:
    if not value:
        return False, 0, (), 0.0
    if not isinstance(value, dict):
        src.losses.add("non-object 'attributes' (not carried)")
        return False, 0, (), 0.0
    occ = bool(value.get("occluded", False))
    try:
        z = int(value.get("z_order", 0) or 0)
        rot = float(value.get("rotation", 0.0) or 0.0)
    except (TypeError, ValueError):
        z, rot = 0, 0.0
    out = []
    for k, v in value.items():
        if k in ("occluded", "z_order", "rotation"):
            continue
        if k in ("track_id", "keyframe"):
            src.losses.add(f"attribute {k!r} (video tracks are not carried)")
            continue
        s = ("true" if v else "false") if isinstance(v, bool) else str(v)
        out.append((str(k), s))
        src.note_attr(label, str(k))
    return occ, z, tuple(out), rot


#: images whose box lines are formatted together (bounded memory, numpy-sized batches)
CHUNK = 1024


def _records(root: Path, path: Path, images: list[dict[str, Any]], store: _Anns, src: Source,
             subset: str | None, base: Path) -> Iterator[Record]:
    import numpy as np

    losses = src.losses
    n_img = len(images)
    img = np.frombuffer(store.img, dtype=np.int32) if len(store.img) else np.zeros(0, np.int32)
    order = np.argsort(img, kind="stable")
    starts = np.searchsorted(img[order], np.arange(n_img + 1)).tolist()
    cat, box, flags, other, attrs, rot = (store.cat, store.box, store.flags, store.other,
                                          store.attrs, store.rot)
    n_ann = len(cat)
    boxes = np.frombuffer(box, dtype=np.float64).reshape(-1, 4) if n_ann else np.zeros((0, 4))
    cats = np.frombuffer(cat, dtype=np.int32) if n_ann else np.zeros(0, np.int32)
    flg = np.frombuffer(flags, dtype=np.int64) if n_ann else np.zeros(0, np.int64)
    special = np.zeros(n_ann, dtype=bool)  # needs a Shape: polygon/mask, attributes, rotation
    for d in (other, attrs, rot):
        if d:
            special[np.fromiter(d.keys(), dtype=np.int64, count=len(d))] = True
    prefix = os.path.relpath(base, root).replace(os.sep, "/")
    prefix = "" if prefix == "." else prefix + "/"
    resolver = InsideResolver(root)
    root_s = str(root) + os.sep
    # import only: plain boxes go straight to their CVAT lines (no Shape objects), formatted
    # a chunk of images at a time from numpy columns
    labq = [quoteattr(n) for n in src.labels] if src.prerender else None
    for c0 in range(0, n_img, CHUNK):
        c1 = min(n_img, c0 + CHUNK)
        a0, a1 = starts[c0], starts[c1]
        idx = order[a0:a1]
        idx_l = idx.tolist()
        spec = np.concatenate(([0], np.cumsum(special[idx]))).tolist()
        lines: list[str] | None = None
        if labq is not None and a1 > a0:
            b = boxes[idx]
            f = flg[idx]
            lines = [BOX_XML % t for t in zip(
                [labq[c] for c in cats[idx].tolist()], (f & 1).tolist(), b[:, 0].tolist(),
                b[:, 1].tolist(), (b[:, 0] + b[:, 2]).tolist(), (b[:, 1] + b[:, 3]).tolist(),
                (f >> 1).tolist(), strict=True)]
        for i in range(c0, c1):
            im = images[i]
            fname = str(im["file_name"])
            p = resolver.file(prefix + fname, f"{path}: images[{i}].file_name", repr(fname))
            if p is None:
                losses.add("annotated images without a file (left out)", fname)
                continue
            rel = p[len(root_s):] if p.startswith(root_s) else os.path.basename(p)
            s0, s1 = starts[i] - a0, starts[i + 1] - a0
            shapes: list[Shape] = []
            block: list[str] = []
            if lines is not None and spec[s1] == spec[s0]:
                block = lines[s0:s1]  # all plain boxes: the lines as they are
            else:
                for k in range(s0, s1):
                    j = idx_l[k]
                    o = other.get(j)
                    if o is not None:
                        shapes.extend(o)
                        continue
                    a = attrs.get(j, ()) if attrs else ()
                    r = rot.get(j, 0.0) if rot else 0.0
                    if lines is not None and not a and not r:
                        block.append(lines[k])
                        continue
                    x, y, w, h = box[4 * j], box[4 * j + 1], box[4 * j + 2], box[4 * j + 3]
                    fj = flags[j]
                    shapes.append(Shape("box", cat[j], (x, y, x + w, y + h), bool(fj & 1),
                                        fj >> 1, a, 0, r))
            try:
                w, h = int(im.get("width") or 0), int(im.get("height") or 0)
            except (TypeError, ValueError):
                raise InputError(f"{path}: images[{i}]: width/height are not integers") from None
            if w <= 0 or h <= 0:
                from .imagesize import size_of

                w, h = size_of(Path(p), f"{path}: images[{i}]")
            rec = Record(p, rel.replace(os.sep, "/"), w, h, shapes, subset)
            if block:
                rec.box_xml, rec.box_count = "".join(block), len(block)
            yield rec
