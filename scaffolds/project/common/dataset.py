# Managed by tc (`tc update` brings its new versions) — edit train.py instead.
"""Dataset stage of a train container: samples + CVAT annotations -> split dataset on disk.

``prepare(task=...)`` reads ``$MINIO_ROOT/datasets/$DATASET_ID/`` (samples = the regular,
non-hidden files directly in it; ``annotations/annotations.xml`` in CVAT for images 1.1),
matches samples to ``<image>`` entries by file name (one dict lookup each), splits them
(stratified, fixed seed) and writes under ``$DATASETS_ROOT``::

    images/.src -> $MINIO_ROOT/datasets/<id>       one link to the dataset folder
    images/{train,val[,test]}/<file> -> ../.src/<file>   short relative links through it
    labels/{train,val[,test]}/labels.json     COCO
    labels/<split>/<stem>.txt + data.yaml     YOLO (format "yolo")
    imagefolder/<split>/<class>/<file>        ImageFolder (format "imagefolder"), through
                                               imagefolder/.src like images/
    split_manifest.json                        every sample and its split

Every output is built in ``$DATASETS_ROOT/.tc-staging`` and renamed into place, so a rerun
(``docker start``, maybe with another DATASET_ID) succeeds and leaves nothing stale; the
previous version is renamed into ``.tc-trash/`` and deleted there, by a detached process for
large datasets (off the critical path; a crash leaves only trash, never a half-deleted
output). The exact layout is documented in docs/runtime.md. Plain module: ``main(argv) -> int``.

Speed (see docs/performance.md): no scikit-learn or numpy on the import path (the stratified
split is our own, below); the symlinks are made by a small worker process, started before
the parse and fed after the split, while this process writes the label files.

Longer than ~400 lines because the image's runtime files are fixed by the platform
(``validation/common.json``): the split, the writers and the stage live in this one file.
"""

# ruff: noqa: UP031  (printf-style formatting is the fast path for millions of lines)
from __future__ import annotations

import contextlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:  # in the image and in the build directory the files are flat
    import cvat_dataset as cvat
except ImportError:  # pragma: no cover - repo layout
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "datasets"))
    import cvat_dataset as cvat

TASKS = ("classification", "detection", "segmentation", "sklearn")
FORMATS = ("coco", "yolo", "imagefolder")
DEFAULT_FORMATS: dict[str, tuple[str, ...]] = {
    "classification": ("coco", "imagefolder"),
    "sklearn": ("coco", "imagefolder"),
    "detection": ("coco",),
    "segmentation": ("coco",),
}
KEEP: dict[str, frozenset[str]] = {
    "classification": frozenset({"tag", "box", "polygon", "mask"}),
    "sklearn": frozenset({"tag", "box", "polygon", "mask"}),
    "detection": frozenset({"box", "polygon", "mask"}),
    "segmentation": frozenset({"box", "polygon", "mask"}),
}
#: what this module owns under DATASETS_ROOT (replaced as a whole on every run)
OWNED = ("images", "labels", "imagefolder", "data.yaml", "split_manifest.json")
STAGING = ".tc-staging"
TRASH = ".tc-trash"
#: the directory link inside images/ and imagefolder/ that the per-file links go through:
#: their targets stay short (ext4 keeps a target under 60 bytes in the inode, a longer one
#: costs a data block per link) whatever MINIO_ROOT and the dataset id are
SRC_LINK = ".src"
NONE_LABEL = "<none>"
DATASET_ID_RE = re.compile(r"^[1-9][0-9]{0,17}$")
#: from this many samples on, the links are made by a worker process (started before the
#: parse) and the previous output is deleted by a detached process (env overrides below)
WORKER_MIN = 2000
#: from this many samples in the first split on (``TC_FORK_WRITER_MIN``; ``TC_FORK_WRITER=0``
#: turns it off), its labels.json is shared with a forked process (see _SharedCoco)
FORK_WRITER_MIN = 2000


class DatasetError(Exception):
    """A dataset problem the user must fix; the message names the file or variable."""


@dataclass
class StageContext:
    """Everything one run of the stage needs besides the data: settings, output, log."""

    task: str
    dataset_id: str
    src: Path  # $MINIO_ROOT/datasets/<id>
    out_root: Path  # $DATASETS_ROOT
    formats: tuple[str, ...]
    seed: int
    train: float
    test: float
    say: Callable[[str], None]
    #: "random" (the fractions) or "subset" (the images' CVAT subsets, see subset_split)
    split: str = "random"
    t0: float = field(default_factory=time.perf_counter)
    timings: dict[str, float] = field(default_factory=dict)
    warn: Counter[str] = field(default_factory=Counter)

    @property
    def staging(self) -> Path:
        return self.out_root / STAGING

    def lap(self, name: str, since: float) -> float:
        """Record the time since ``since`` under ``name``; returns now."""
        now = time.perf_counter()
        self.timings[name] = now - since
        return now


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name) or default)
    except ValueError:
        return default


# ----------------------------------------------------------------------------- paths

def minio_root() -> Path:
    return Path(os.environ.get("MINIO_ROOT") or "/minio")


def datasets_root() -> Path:
    return Path(os.environ.get("DATASETS_ROOT") or "/datasets")


def check_dataset_id(value: str | None) -> str:
    """Return ``value`` if it is a positive integer (as text), else raise DatasetError."""
    if value is None or value == "":
        raise DatasetError("DATASET_ID is not set; run the container with -e DATASET_ID=<id>")
    if not DATASET_ID_RE.match(value):
        raise DatasetError(f"DATASET_ID={value!r} is not a positive integer")
    return value


def dataset_dir(ds_id: str, root: Path | None = None) -> Path:
    return (root or minio_root()) / "datasets" / check_dataset_id(ds_id)


def list_samples(folder: Path) -> list[str]:
    """Regular, non-hidden files directly in ``folder``, sorted by name."""
    try:
        with os.scandir(folder) as it:
            names = [e.name for e in it if not e.name.startswith(".") and e.is_file()]
    except FileNotFoundError:
        raise DatasetError(f"{folder}: dataset folder not found (is DATASET_ID right, is "
                           "MINIO_ROOT mounted?)") from None
    except NotADirectoryError:
        raise DatasetError(f"{folder}: not a folder") from None
    names.sort()
    return names


def image_size(path: str) -> tuple[int, int] | None:
    """(width, height) from the image header only, or None when it is not an image."""
    try:
        from PIL import Image

        with Image.open(path) as im:
            return int(im.width), int(im.height)
    except Exception:
        return None


# ----------------------------------------------------------------------------- split

def split_samples(keys: Sequence[str], train: float, test: float, seed: int
                  ) -> tuple[list[str], bool, str | None]:
    """Assign each sample to train/val(/test).

    ``test`` is the fraction for ``val`` (the platform's test split); when
    ``train + test < 1`` the remainder goes to ``test``. Stratified on ``keys`` (see
    :func:`stratified_split`) when every class has 2 samples or more, else random (returns
    the reason). Deterministic for a seed.
    """
    n = len(keys)
    if train < 0 or test < 0 or train + test > 1 + 1e-9:
        raise DatasetError(f"train-split={train} and test-split={test}: each must be in 0..1 "
                           "and their sum at most 1")
    rest = max(0.0, 1.0 - train - test)
    if rest < 1e-9:
        rest = 0.0
    if n == 0:
        return [], False, "empty"
    counts = Counter(keys)
    small = sorted(k for k, c in counts.items() if c < 2)
    if len(counts) < 2:
        reason = "only one class: nothing to stratify"
    elif small:
        reason = f"classes with fewer than 2 samples: {', '.join(small[:5])}"
    elif train <= 0 or test <= 0:
        reason = "a split fraction is 0"
    else:
        return stratified_split(keys, train, test, seed), True, None
    return _random_split(n, train, test, rest, seed), False, reason


def _random_split(n: int, train: float, test: float, rest: float, seed: int) -> list[str]:
    out = ["train"] * n
    perm = list(range(n))
    random.Random(seed).shuffle(perm)
    n_val = round(test * n)
    n_test = round(rest * n)
    if test > 0 and n_val == 0 and n > 1:
        n_val = 1
    n_test = min(n_test, max(0, n - n_val - (1 if train > 0 else 0)))
    for i in perm[:n_val]:
        out[i] = "val"
    for i in perm[n_val:n_val + n_test]:
        out[i] = "test"
    if train == 0:
        for i in perm[n_val + n_test:]:
            out[i] = "val"
    return out


def _raise_some(base: list[int], free: list[tuple[float, int]], total: int,
                rank: list[int]) -> list[int]:
    """``base`` plus one for as many ``free`` classes (priority, class) as bring the sum
    nearest to ``total``: highest priority first, ties in the seeded order ``rank``."""
    need = max(0, min(total - sum(base), len(free)))
    out = list(base)
    for _prio, c in sorted(free, key=lambda t: (-t[0], rank[t[1]]))[:need]:
        out[c] += 1
    return out


def stratified_split(keys: Sequence[str], train: float, test: float, seed: int
                     ) -> list[str]:
    """Stratified split with scikit-learn's guarantees, without importing it.

    Per class of ``n_c`` samples, each split gets ``floor`` or ``ceil`` of
    ``n_c * fraction`` (so within one sample of its exact share), every class at least one
    training sample, and the split totals as near ``n * fraction`` as that allows; which
    classes round up (largest remainder first, ties in seeded order) and which samples go
    where (a seeded shuffle per class) come from ``random.Random(seed)``. Needs ``train``
    and ``test`` > 0 and every class with 2 samples or more (:func:`split_samples` checks).
    """
    rest = max(0.0, 1.0 - train - test)
    if rest < 1e-9:
        rest = 0.0
    rng = random.Random(seed)
    groups: dict[str, list[int]] = {}
    for i, k in enumerate(keys):
        groups.setdefault(k, []).append(i)
    classes = sorted(groups)
    sizes = [len(groups[c]) for c in classes]
    n = len(keys)
    rank = list(range(len(classes)))
    rng.shuffle(rank)

    # train: floor or ceil of the share; a class whose share is below one gets one
    q_tr = [round(s * train, 9) for s in sizes]
    base = [max(1, int(q)) for q in q_tr]
    free = [(q - int(q), c) for c, q in enumerate(q_tr) if int(q) >= 1 and q > int(q)]
    n_tr = _raise_some(base, free, round(n * train), rank)
    if rest:
        # val among the held-out samples: round so that test stays within one sample too
        # (test deviation = (q_tr - n_tr) + (q_val - n_val); round val up when that is >= 1
        # rounded down, down when it is <= 0 rounded down, else either way)
        base, free = [], []
        for c, s in enumerate(sizes):
            q_val = round(s * test, 9)
            low = int(q_val)
            key = (q_val - low) + (q_tr[c] - n_tr[c])
            base.append(low + 1 if key >= 1 - 1e-9 else low)
            if 1e-9 < key < 1 - 1e-9 and q_val > low:
                free.append((key, c))
        n_val = _raise_some(base, free, round(n * test), rank)
    else:
        n_val = [s - t for s, t in zip(sizes, n_tr, strict=True)]
    out = ["test"] * n
    for c, name in enumerate(classes):
        idx = groups[name]
        rng.shuffle(idx)
        t, v = n_tr[c], n_val[c]
        for i in idx[:t]:
            out[i] = "train"
        for i in idx[t:t + v]:
            out[i] = "val"
    return out


#: ``split: subset``: CVAT subset names (case-insensitive, trimmed) -> the split written;
#: the platform's "test" split is ``val`` (its score is computed there)
SUBSETS = {"train": "train", "training": "train",
           "val": "val", "valid": "val", "validation": "val", "test": "val", "testing": "val"}
SPLIT_MODES = ("random", "subset")


def subset_split(subsets: Sequence[str | None], keys: Sequence[str], train: float, test: float,
                 seed: int) -> tuple[list[str], int, bool, str | None]:
    """``split: subset``: each sample goes where its subset says (:data:`SUBSETS`); samples
    without a known subset (none, or another name) are split by :func:`split_samples` with
    the configured fractions. Returns (assignment, how many went through that split,
    stratified, reason). No sample with a known subset is an error."""
    out: list[str | None] = [SUBSETS.get(s.strip().lower()) if s else None for s in subsets]
    rest = [i for i, sp in enumerate(out) if sp is None]
    if len(rest) == len(out):
        seen = sorted({s for s in subsets if s})
        found = f"found: {', '.join(repr(s) for s in seen[:5])}" if seen else "none has one"
        raise DatasetError(f"split: subset, but no image of annotations.xml has a train/"
                           f"validation/test subset ({found}); set split to random or "
                           "import the dataset keeping its subsets")
    stratified, reason = False, None
    if rest:
        assign, stratified, reason = split_samples([keys[i] for i in rest], train, test, seed)
        for i, sp in zip(rest, assign, strict=True):
            out[i] = sp
    return [sp or "train" for sp in out], len(rest), stratified, reason


# ----------------------------------------------------------------------------- records

class Sample:
    """One sample on disk and what the XML says about it."""

    __slots__ = ("file_name", "height", "id", "image", "labels", "primary", "width")

    def __init__(self, file_name: str, image: cvat.CvatImage | None, width: int,
                 height: int, labels: list[int], primary: int) -> None:
        self.file_name = file_name
        self.image = image
        self.width = width
        self.height = height
        self.labels = labels
        self.primary = primary
        self.id = 0


def _labels_of(img: cvat.CvatImage | None, ann: cvat.CvatAnnotations, task: str,
               warn: Counter[str]) -> tuple[list[int], int]:
    """(distinct label indexes in first-appearance order, primary label or -1)."""
    if img is None:
        return [], -1
    if task in ("classification", "sklearn"):
        tags = [s[1] for s in (img.shapes or ()) if s[0] == "tag"]
        if tags:
            if len(set(tags)) > 1:
                warn["images with several tags (first tag is the class)"] += 1
            return list(dict.fromkeys(tags)), tags[0]
        shape_labels = list(dict.fromkeys(
            [*ann.boxes.label[img.b0:img.b1], *(s[1] for s in (img.shapes or ()))]))
        if len(shape_labels) == 1:
            return shape_labels, shape_labels[0]
        if shape_labels:
            warn["images with shapes of several labels and no tag (no class)"] += 1
        return [], -1
    if img.shapes:
        labels = list(dict.fromkeys([*ann.boxes.label[img.b0:img.b1],
                                     *(s[1] for s in img.shapes)]))
    elif img.b1 - img.b0 > 1:
        labels = list(dict.fromkeys(ann.boxes.label[img.b0:img.b1]))
    else:
        labels = list(ann.boxes.label[img.b0:img.b1])
    return labels, (labels[0] if labels else -1)


def match_samples(ctx: StageContext, ann: cvat.CvatAnnotations, names: list[str]
                  ) -> list[Sample]:
    """One Sample per usable file (ids 1.. in file-name order); counts what is left out."""
    warn = ctx.warn
    src_s = str(ctx.src)
    samples: list[Sample] = []
    matched = 0
    images = ann.images
    task = ctx.task
    for name in names:
        img = images.get(name)
        w = h = 0
        if img is not None:
            matched += 1
            w, h = img.width, img.height
        if w <= 0 or h <= 0:
            size = image_size(os.path.join(src_s, name))
            if size is None:
                warn["files that are not readable images (left out)"] += 1
                continue
            w, h = size
        labels, primary = _labels_of(img, ann, task, warn)
        samples.append(Sample(name, img, w, h, labels, primary))
    missing = len(images) - matched
    if missing:
        warn["annotated images without a file in the dataset (ignored)"] += missing
        on_disk = set(names)
        example = next(n for n in images if n not in on_disk)
        ctx.say(f"note: e.g. {images[example].xml_name!r} is annotated but {example!r} is "
                f"not in {ctx.src}")
    if not samples:
        raise DatasetError(f"{ctx.src}: no usable image samples")
    for i, s in enumerate(samples):
        s.id = i + 1
    return samples


# ----------------------------------------------------------------------------- writers

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


def _group_parts(img: cvat.CvatImage, ann: cvat.CvatAnnotations
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


def _part_box(ctx: StageContext, s: Sample, part: tuple[Any, ...],
              ann: cvat.CvatAnnotations) -> tuple[list[float], float]:
    """(bbox, area) of one part: a box, a polygon, or the pixels of a mask."""
    kind, data = part[0], part[2]
    if kind == "box":
        x, y, w, h = data
        return [x, y, w, h], w * h
    if kind == "polygon":
        return cvat.polygon_bbox(data), cvat.polygon_area(data)
    try:
        return cvat.mask_pixel_box(*data, s.width, s.height)
    except cvat.CvatError as exc:
        xml_name = s.image.xml_name if s.image else s.file_name
        raise DatasetError(f"{ann.path}: image {xml_name!r}: {exc}") from None


def _union(boxes: list[list[float]]) -> list[float]:
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
    boxes = [_part_box(ctx, s, p, ann) for p in parts]
    if ctx.task == "segmentation" and any(p[0] == "mask" for p in parts):
        import numpy as np
        from PIL import Image, ImageDraw

        canvas = Image.new("L", (s.width, s.height), 0)
        draw = ImageDraw.Draw(canvas)
        full = np.zeros((s.height, s.width), dtype=np.uint8)
        for p, (bb, _area) in zip(parts, boxes, strict=True):
            if p[0] == "mask":
                full |= cvat.mask_array(*p[2], s.width, s.height)
            else:
                x, y, w, h = bb
                flat = p[2] if p[0] == "polygon" else [x, y, x + w, y, x + w, y + h, x, y + h]
                draw.polygon(list(zip(flat[0::2], flat[1::2], strict=True)), fill=1)
        full |= np.asarray(canvas, dtype=np.uint8)
        rle, area, bbox = cvat.coco_rle(full)
        a["bbox"], a["area"], a["iscrowd"], a["segmentation"] = bbox, area, 1, rle
    else:
        a["bbox"] = _union([b for b, _area in boxes])
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
    for gid, parts in _group_parts(s.image, ann):
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


def write_yolo(ctx: StageContext, folder: Path, samples: Sequence[Sample],
               ann: cvat.CvatAnnotations) -> None:
    """One ``<stem>.txt`` per sample (empty for negatives), normalised coordinates."""
    b = ann.boxes
    seg = ctx.task == "segmentation"
    for s in samples:
        lines: list[str] = []
        img = s.image
        W, H = float(s.width or 1), float(s.height or 1)
        if img is not None and img.grouped and not seg:
            for _gid, parts in _group_parts(img, ann):  # one box per object
                if all(p[0] == "mask" for p in parts):
                    ctx.warn["masks left out of YOLO files"] += 1
                    continue
                x, y, w, h = _union([_part_box(ctx, s, p, ann)[0] for p in parts])
                lines.append("%d %.6f %.6f %.6f %.6f" % (
                    parts[0][1], (x + w / 2) / W, (y + h / 2) / H, w / W, h / H))
        elif img is not None:
            for k in range(img.b0, img.b1):
                x, y, w, h = b.x[k], b.y[k], b.w[k], b.h[k]
                if seg:
                    pts = (x, y, x + w, y, x + w, y + h, x, y + h)
                    lines.append("%d " % b.label[k] + " ".join(
                        "%.6f" % (v / (W if i % 2 == 0 else H)) for i, v in enumerate(pts)))
                else:
                    lines.append("%d %.6f %.6f %.6f %.6f" % (
                        b.label[k], (x + w / 2) / W, (y + h / 2) / H, w / W, h / H))
            for kind, lab, data, _o, _z, _a in img.shapes or ():
                if kind == "polygon":
                    if seg:
                        lines.append("%d " % lab + " ".join(
                            "%.6f" % (v / (W if i % 2 == 0 else H)) for i, v in enumerate(data)))
                    else:
                        x, y, w, h = cvat.polygon_bbox(data)
                        lines.append("%d %.6f %.6f %.6f %.6f" % (
                            lab, (x + w / 2) / W, (y + h / 2) / H, w / W, h / H))
                elif kind == "mask":
                    ctx.warn["masks left out of YOLO files"] += 1
        (folder / (os.path.splitext(s.file_name)[0] + ".txt")).write_text(
            "".join(line + "\n" for line in lines))


def write_manifest(ctx: StageContext, path: Path, manifest: dict[str, Any],
                   splits: dict[str, list[Sample]], labels: list[str]) -> None:
    """``split_manifest.json``: the summary, then one row per sample in id order."""
    head = dict(manifest)
    head["warnings"] = dict(sorted(ctx.warn.items()))
    order: list[tuple[int, str, Sample]] = []
    for split, items in splits.items():
        order.extend((s.id, split, s) for s in items)
    order.sort(key=lambda t: t[0])
    # one row per sample, formatted directly (as json.dumps of the dict would, 3x faster)
    enc = json.JSONEncoder(ensure_ascii=False).encode
    labels_json: dict[tuple[int, ...], str] = {}
    split_json = {split: enc(split) for split in splits}
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(head, indent=2, ensure_ascii=False)[:-2] + ',\n  "samples": [\n    ')
        rows: list[str] = []
        for n, (_id, split, s) in enumerate(order):
            img = s.image
            key = tuple(s.labels)
            lj = labels_json.get(key)
            if lj is None:
                lj = labels_json[key] = enc([labels[i] for i in key])
            rows.append('{"file_name": %s, "split": %s, "labels": %s, "xml_name": %s, '
                        '"subset": %s}' % (enc(s.file_name), split_json[split], lj,
                                           enc(img.xml_name) if img else "null",
                                           enc(img.subset) if img else "null"))
            if len(rows) >= 20000:  # streamed in chunks: memory stays flat
                fh.write(",\n    ".join(rows) + (",\n    " if n + 1 < len(order) else ""))
                rows.clear()
        fh.write(",\n    ".join(rows) + "\n  ]\n}\n")
    os.replace(tmp, path)


def class_folder(name: str) -> str:
    """A safe folder name for a label (``/``, ``\\``, NUL and a leading ``.`` -> ``_``)."""
    out = name.replace("/", "_").replace("\\", "_").replace("\x00", "_")
    if not out or out.startswith("."):
        out = "_" + out[1:] if out else "_"
    return out


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


# ----------------------------------------------------------------------------- links

#: the link worker: reads NUL-separated jobs (folder, target prefix, count, names...) from
#: stdin, makes the links, prints "ok N" or "errno NUL strerror NUL filename" (exit 1)
_LINKER = r"""
import os, sys
f = sys.stdin.buffer.read().split(b"\0")
i = n = 0
try:
    while i + 2 < len(f):
        d, pre, k = f[i], f[i + 1], int(f[i + 2])
        i += 3
        for name in f[i:i + k]:
            os.symlink(pre + name, d + b"/" + name)
        i += k
        n += k
except OSError as e:
    sys.stdout.write("%d\0%s\0%s" % (e.errno or 0, e.strerror or e,
                                      os.fsdecode(e.filename or b"")))
    sys.exit(1)
sys.stdout.write("ok %d" % n)
"""

#: removes the trees named on its command line (niced), then their folder if it is empty
_DELETER = r"""
import os, shutil, sys
try:
    os.nice(10)
except OSError:
    pass
for p in sys.argv[1:]:
    shutil.rmtree(p, ignore_errors=True)
try:
    os.rmdir(os.path.dirname(sys.argv[1]))
except OSError:
    pass
"""

#: link jobs: (folder, target prefix, samples) -> folder/<file> -> prefix<file>
LinkJobs = list[tuple[Path, str, list[Sample]]]
#: detached deleters started by this process (see wait_for_cleanup)
_DELETERS: list[subprocess.Popen[bytes]] = []


def _link_in_process(jobs: LinkJobs, *, redo: bool = False) -> None:
    sym = os.symlink
    for folder, prefix, items in jobs:
        d = str(folder) + "/"
        for s in items:
            try:
                sym(prefix + s.file_name, d + s.file_name)
            except FileExistsError:
                if not redo:
                    raise


class _Linker:
    """Makes the per-file symlinks while this process writes the label files.

    From ``WORKER_MIN`` samples on (``TC_LINK_WORKER_MIN``; ``TC_LINK_WORKER=0`` turns it
    off) a small ``python -I -S`` worker is started before the parse (its start-up overlaps
    the parse) and fed the jobs after the split; ``os.symlink`` is a system call per link,
    so on two cores the links and the label files are made at the same time. Without a
    worker, or when it fails in any way other than an ``OSError`` from a link, the links
    are made here; the result is the same either way.
    """

    def __init__(self, proc: subprocess.Popen[bytes] | None) -> None:
        self.proc = proc
        self.jobs: LinkJobs = []

    @classmethod
    def start(cls, n_files: int) -> _Linker:
        if n_files < _env_int("TC_LINK_WORKER_MIN", WORKER_MIN) or \
                os.environ.get("TC_LINK_WORKER") == "0" or not sys.executable:
            return cls(None)
        try:
            return cls(subprocess.Popen([sys.executable, "-I", "-S", "-c", _LINKER],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL))
        except OSError:  # pragma: no cover - no way to start a process: link here
            return cls(None)

    @property
    def in_worker(self) -> bool:
        return self.proc is not None

    def submit(self, jobs: LinkJobs) -> None:
        """Start making the links (returns at once when a worker does it)."""
        self.jobs = jobs
        if self.proc is None:
            _link_in_process(jobs)
            return
        enc = os.fsencode
        try:
            assert self.proc.stdin is not None
            write = self.proc.stdin.write
            sep = b""
            for folder, prefix, items in jobs:  # streamed per 20k names: memory stays flat
                write(sep + b"\0".join((enc(str(folder)), enc(prefix), b"%d" % len(items))))
                sep = b"\0"
                for i in range(0, len(items), 20000):
                    write(b"\0" + b"\0".join([enc(s.file_name) for s in items[i:i + 20000]]))
            self.proc.stdin.close()
        except OSError:  # pragma: no cover - the worker died: link here
            self._fallback()

    def wait(self) -> None:
        """Wait for the links; raises the OSError of a link that could not be made."""
        proc = self.proc
        if proc is None:
            return
        assert proc.stdout is not None
        out = proc.stdout.read().decode("utf-8", "replace")
        rc = proc.wait()
        self.proc = None
        if rc == 0 and out.startswith("ok "):
            return
        parts = out.split("\0")
        if rc == 1 and len(parts) == 3 and parts[0].isdigit():
            raise OSError(int(parts[0]), parts[1], parts[2])
        self._fallback()  # pragma: no cover - crashed worker

    def _fallback(self) -> None:
        self.close()
        _link_in_process(self.jobs, redo=True)

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


# ----------------------------------------------------------------------------- swap

def _rmtree(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def _trash_folder(root: Path) -> Path:
    """A new, empty generation folder ``.tc-trash/<pid>-<ns>`` for outputs to delete."""
    while True:
        gen = root / TRASH / f"{os.getpid()}-{time.time_ns()}"
        try:
            os.makedirs(gen)
            return gen
        except FileExistsError:  # pragma: no cover - same nanosecond
            continue


def _discard(paths: list[Path], background: bool) -> None:
    """Delete trash folders: by a detached, niced process when ``background`` (the caller
    goes on at once), else here. Either way only what was moved into .tc-trash/."""
    if not paths:
        return
    if background and sys.executable:
        try:
            _DELETERS.append(subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _DELETER, *map(str, paths)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True))
            return
        except OSError:  # pragma: no cover - delete here instead
            pass
    for p in paths:
        shutil.rmtree(p, ignore_errors=True)
    with contextlib.suppress(OSError):
        os.rmdir(paths[0].parent)


def wait_for_cleanup(timeout: float | None = None) -> bool:
    """Wait for the detached deleters this process started; True when all have ended."""
    deadline = None if timeout is None else time.monotonic() + timeout
    for p in list(_DELETERS):
        try:
            p.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            return False
        _DELETERS.remove(p)
    return True


def _fresh_staging(ctx: StageContext, background: bool) -> None:
    """An empty ``.tc-staging``; what a crashed run left there, and trash that a killed
    deleter left, are deleted (in the background for large datasets)."""
    root, staging = ctx.out_root, ctx.staging
    old: list[Path] = []
    trash = root / TRASH
    if trash.is_dir():
        old += [trash / name for name in sorted(os.listdir(trash))]
    if os.path.lexists(staging):
        gen = _trash_folder(root)
        os.rename(staging, gen / STAGING)
        old.append(gen)
    _discard(old, background)
    staging.mkdir()


def _swap_in(ctx: StageContext, background: bool) -> None:
    """Move every owned output from staging into place; the previous ones go to trash and
    are deleted after (a crash leaves each output whole: old, new, or being rebuilt)."""
    root, staging = ctx.out_root, ctx.staging
    gen = _trash_folder(root)
    for name in OWNED:
        cur, new = root / name, staging / name
        if os.path.lexists(cur):
            os.rename(cur, gen / name)
        if os.path.lexists(new):
            os.rename(new, cur)
    os.rmdir(staging)
    _discard([gen], background)


# ----------------------------------------------------------------------------- prepare

def prepare(task: str, config: dict[str, Any] | None = None, *,
            dataset_id: str | None = None, minio: Path | None = None,
            datasets: Path | None = None, formats: Sequence[str] | None = None,
            seed: int | None = None, log: Callable[[str], None] | None = None
            ) -> dict[str, Any]:
    """Run the dataset stage. Returns a summary dict (also written as split_manifest.json
    without the samples list). Raises DatasetError (or cvat.CvatError) for user errors."""
    t0 = time.perf_counter()
    if task not in TASKS:
        raise DatasetError(f"task {task!r} is not one of {', '.join(TASKS)}")
    cfg = config or {}
    ds_id = check_dataset_id(dataset_id if dataset_id is not None
                             else os.environ.get("DATASET_ID"))
    ctx = StageContext(
        task=task, dataset_id=ds_id, src=dataset_dir(ds_id, minio),
        out_root=datasets or datasets_root(), formats=_formats(task, formats),
        seed=int(os.environ.get("SPLIT_SEED") or 42) if seed is None else seed,
        train=float(cfg.get("train-split", 0.8)), test=float(cfg.get("test-split", 0.2)),
        say=log or (lambda m: print(f"[setup] {m}", flush=True)), t0=t0,
        split=str(cfg.get("split") or "random"))
    if ctx.split not in SPLIT_MODES:
        raise DatasetError(f"split: {ctx.split!r} is not one of {', '.join(SPLIT_MODES)}")
    names = list_samples(ctx.src)
    if not names:
        raise DatasetError(f"{ctx.src}: no samples (regular non-hidden files) in the dataset "
                           "folder")
    xml = ctx.src / "annotations" / "annotations.xml"
    if not xml.is_file():
        raise DatasetError(f"{xml}: missing; upload the CVAT for images 1.1 export with the "
                           "dataset")
    ctx.lap("list", t0)
    linker = _Linker.start(len(names))
    try:
        return _run(ctx, xml, names, linker)
    finally:
        linker.close()


def _run(ctx: StageContext, xml: Path, names: list[str], linker: _Linker) -> dict[str, Any]:
    t = time.perf_counter()
    try:
        ann = cvat.parse_cvat(xml, KEEP[ctx.task])
    except cvat.CvatError as exc:
        raise DatasetError(str(exc)) from None
    t = ctx.lap("parse", t)
    ctx.warn.update(ann.warnings)
    samples = match_samples(ctx, ann, names)
    labels = ann.labels
    keys = [labels[s.primary] if s.primary >= 0 else NONE_LABEL for s in samples]
    t = ctx.lap("match", t)
    if ctx.split == "subset":
        assign, n_rest, stratified, reason = subset_split(
            [s.image.subset if s.image else None for s in samples], keys, ctx.train,
            ctx.test, ctx.seed)
        ctx.say(f"split: subset: {len(samples) - n_rest} samples by their subset"
                + (f", {n_rest} without a train/validation/test subset split at random "
                   f"({ctx.train:g}/{ctx.test:g})" if n_rest else ""))
        if n_rest:
            ctx.warn["samples without a train/validation/test subset (split at random)"] += \
                n_rest
    else:
        assign, stratified, reason = split_samples(keys, ctx.train, ctx.test, ctx.seed)
        n_rest = len(samples)
    t = ctx.lap("split", t)
    if not stratified and n_rest:
        ctx.say(f"warning: random split (not stratified): {reason}")
    splits: dict[str, list[Sample]] = {"train": [], "val": []}
    for s, sp in zip(samples, assign, strict=True):
        splits.setdefault(sp, []).append(s)
    for sp in ("train", "val") if ctx.split == "subset" else ():
        if not splits[sp]:
            ctx.say(f"warning: the {sp} split is empty")
    if "yolo" in ctx.formats:
        stems: dict[str, str] = {}
        for s in samples:
            stem = os.path.splitext(s.file_name)[0]
            if stem in stems:
                raise DatasetError(f"{ctx.src}: {stems[stem]!r} and {s.file_name!r} share the "
                                   f"stem {stem!r}; YOLO label files would collide")
            stems[stem] = s.file_name
    manifest: dict[str, Any] = {
        "version": 1, "dataset_id": ctx.dataset_id, "task": ctx.task, "seed": ctx.seed,
        **({"split": "subset"} if ctx.split == "subset" else {}),
        "ratios": {"train": ctx.train, "val": ctx.test,
                   "test": round(max(0.0, 1 - ctx.train - ctx.test), 10)},
        "stratified": stratified, "fallback_reason": reason if not stratified else None,
        "labels": list(labels), "formats": list(ctx.formats),
        "counts": {k: len(v) for k, v in splits.items()},
    }
    try:
        _write_all(ctx, splits, ann, manifest, linker)
    except OSError as exc:
        raise DatasetError(f"{ctx.out_root}: cannot write the dataset ({exc.strerror or exc}: "
                           f"{exc.filename or ctx.out_root}); set DATASETS_ROOT to a writable "
                           "folder") from None
    ctx.lap("write", t)
    for what, n in sorted(ctx.warn.items()):
        ctx.say(f"warning: {n} {what}")
    counts = " / ".join(f"{len(v)} {k}" for k, v in splits.items())
    ctx.say(f"dataset {ctx.dataset_id}: {len(samples)} samples ({counts}), {len(labels)} "
            f"labels, {len(ann.boxes)} boxes, {_split_kind(ctx, stratified)} split; wrote "
            f"{ctx.out_root} ({', '.join(ctx.formats)}) in "
            f"{time.perf_counter() - ctx.t0:.2f} s")
    manifest["warnings"] = dict(sorted(ctx.warn.items()))
    manifest["timings"] = {k: round(v, 3) for k, v in ctx.timings.items()}
    return manifest


def _split_kind(ctx: StageContext, stratified: bool) -> str:
    if ctx.split == "subset":
        return "subset"
    return "stratified" if stratified else "random"


def _formats(task: str, formats: Sequence[str] | None) -> tuple[str, ...]:
    if formats is None:
        env = os.environ.get("DATASET_FORMATS")
        formats = [f.strip() for f in env.split(",") if f.strip()] if env else \
            DEFAULT_FORMATS[task]
    out = []
    for f in formats:
        if f not in FORMATS:
            raise DatasetError(f"DATASET_FORMATS: unknown format {f!r} (use "
                               f"{', '.join(FORMATS)})")
        if f not in out:
            out.append(f)
    if "coco" not in out:
        out.insert(0, "coco")
    return tuple(out)


def _write_all(ctx: StageContext, splits: dict[str, list[Sample]], ann: cvat.CvatAnnotations,
               manifest: dict[str, Any], linker: _Linker) -> None:
    """Staging folders and links (in the worker), label files (here), then the swap."""
    labels = ann.labels
    imagefolder = "imagefolder" in ctx.formats
    if imagefolder:
        folders: dict[str, str] = {}
        for name in labels:
            f = class_folder(name)
            if f in folders:
                raise DatasetError(f"labels {folders[f]!r} and {name!r} map to the same "
                                   f"ImageFolder class folder {f!r}")
            folders[f] = name
    background = sum(len(v) for v in splits.values()) >= \
        _env_int("TC_BACKGROUND_DELETE_MIN", WORKER_MIN)
    ctx.out_root.mkdir(parents=True, exist_ok=True)
    _fresh_staging(ctx, background)
    staging = ctx.staging
    src = os.path.abspath(ctx.src)
    jobs: LinkJobs = []
    for top in ("images", *(("imagefolder",) if imagefolder else ())):
        (staging / top).mkdir()
        os.symlink(src, staging / top / SRC_LINK)
    for split, items in splits.items():
        (staging / "images" / split).mkdir()
        (staging / "labels" / split).mkdir(parents=True)
        jobs.append((staging / "images" / split, f"../{SRC_LINK}/", items))
        if imagefolder:
            base = staging / "imagefolder" / split
            base.mkdir()
            by_class: dict[int, list[Sample]] = {}
            for s in items:
                if s.primary < 0:
                    ctx.warn["images without a class (left out of imagefolder/)"] += 1
                else:
                    by_class.setdefault(s.primary, []).append(s)
            for i, name in enumerate(labels):
                (base / class_folder(name)).mkdir()
                if i in by_class:
                    jobs.append((base / class_folder(name), f"../../{SRC_LINK}/", by_class[i]))
    linker.submit(jobs)
    _write_labels(ctx, splits, ann, manifest)
    linker.wait()
    _swap_in(ctx, background)


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
            out.append(len(_group_parts(img, ann)))
        else:
            out.append(img.b1 - img.b0 + sum(1 for shape in img.shapes or ()
                                              if shape[0] in ("polygon", "mask")))
    return out


#: the cost of one sample's manifest row (and YOLO line), in annotation lines
_MANIFEST_COST = 1.25


@dataclass
class _SharedCoco:
    """The first split's labels.json, written by two processes: a forked child writes the
    head and the annotations of ``samples[:cut]`` into ``<file>.head``; this process writes
    those of ``samples[cut:]`` into ``<file>.rest`` beside the other splits' files, then
    joins the two. A child that fails in any way makes this process write the whole file."""

    path: Path
    split: str
    samples: list[Sample]
    first_id: int
    cut: int
    rest_id: int  # the first annotation id of samples[cut:]
    next_id: int  # the next split's first id
    pid: int

    @classmethod
    def start(cls, ctx: StageContext, path: Path, split: str, samples: list[Sample],
              others: Sequence[Sample], ann: cvat.CvatAnnotations, aid: int
              ) -> _SharedCoco | None:
        if len(samples) < _env_int("TC_FORK_WRITER_MIN", FORK_WRITER_MIN) or \
                not cvat.may_fork("TC_FORK_WRITER"):
            return None
        counts = annotation_counts(ctx, samples, ann)
        extra = _MANIFEST_COST * (1 + ("yolo" in ctx.formats))
        # this process also writes the other splits and every sample's manifest row
        total = sum(counts) + sum(annotation_counts(ctx, others, ann)) + \
            extra * (len(samples) + len(others))
        cut, done = 0, 0
        while cut < len(samples) and done < total / 2:
            done += counts[cut]
            cut += 1

        def write_head() -> None:  # in the child
            with open(cls._part(path, "head"), "w", encoding="utf-8") as fh:
                fh.write(coco_head(ctx, split, samples, ann))
                write_annotations(ctx, fh, samples[:cut], ann, aid)

        pid = cvat.fork_run(write_head)
        return cls(path, split, samples, aid, cut, aid + done, aid + sum(counts), pid)

    @staticmethod
    def _part(path: Path, which: str) -> Path:
        return path.with_name(f"{path.name}.{which}")

    def write_rest(self, ctx: StageContext, ann: cvat.CvatAnnotations) -> None:
        with open(self._part(self.path, "rest"), "w", encoding="utf-8") as fh:
            write_annotations(ctx, fh, self.samples[self.cut:], ann, self.rest_id,
                              after=self.rest_id > self.first_id)

    def join(self, ctx: StageContext, ann: cvat.CvatAnnotations) -> None:
        """Wait for the child; head + rest + tail into the file (or all of it here)."""
        _, status = os.waitpid(self.pid, 0)
        head, rest = self._part(self.path, "head"), self._part(self.path, "rest")
        if status == 0:
            with open(head, "a", encoding="utf-8") as out, open(rest, encoding="utf-8") as part:
                shutil.copyfileobj(part, out, 1 << 20)
                out.write(COCO_TAIL)
            os.replace(head, self.path)
        else:
            write_coco(ctx, self.path, self.split, self.samples, ann, self.first_id)
        for leftover in (head, rest):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()

    def abandon(self) -> None:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)


def _write_labels(ctx: StageContext, splits: dict[str, list[Sample]],
                  ann: cvat.CvatAnnotations, manifest: dict[str, Any]) -> None:
    """COCO (and YOLO) label files per split, data.yaml, split_manifest.json (in staging).

    With a large first split its COCO file is shared with a forked process
    (:class:`_SharedCoco`); the bytes are the same either way."""
    staging = ctx.staging
    aid = 1
    first, *later = splits
    shared: _SharedCoco | None = None
    try:
        if later:
            shared = _SharedCoco.start(
                ctx, staging / "labels" / first / "labels.json", first, splits[first],
                [s for split in later for s in splits[split]], ann, aid)
        for split, items in splits.items():
            lab_dir = staging / "labels" / split
            if shared is not None and shared.split == split:
                aid = shared.next_id
            else:
                aid = write_coco(ctx, lab_dir / "labels.json", split, items, ann, aid)
            if "yolo" in ctx.formats:
                write_yolo(ctx, lab_dir, items, ann)
        _write_rest(ctx, splits, ann, manifest)
        if shared is not None:
            shared.write_rest(ctx, ann)
    except BaseException:
        if shared is not None:
            shared.abandon()
        raise
    if shared is not None:
        shared.join(ctx, ann)


def _write_rest(ctx: StageContext, splits: dict[str, list[Sample]],
                ann: cvat.CvatAnnotations, manifest: dict[str, Any]) -> None:
    """data.yaml (with YOLO) and split_manifest.json."""
    staging = ctx.staging
    if "yolo" in ctx.formats:
        yaml = [f"path: {json.dumps(str(ctx.out_root))}"]
        for split in splits:
            yaml.append(f"{split}: images/{split}")
        yaml.append(f"nc: {len(ann.labels)}")
        yaml.append("names: [" + ", ".join(json.dumps(n) for n in ann.labels) + "]")
        _write_text(staging / "data.yaml", "\n".join(yaml) + "\n")
    write_manifest(ctx, staging / "split_manifest.json", manifest, splits, ann.labels)


# ----------------------------------------------------------------------------- report split

#: the val split for ``tc report``, beside the model in TRAIN_ROOT (read on the host as data)
REPORT_SPLIT = "split.json"


def write_report_split(manifest: dict[str, Any], datasets: Path | None = None,
                       train: Path | None = None) -> Path | None:
    """Copy the val split's COCO ``labels.json`` into ``$TRAIN_ROOT/split.json`` as
    ``{"version": 1, "dataset_id", "task", "seed", "val": <COCO>}``, so that tc report never
    runs this code on the host. Streamed (no parse); a write problem is one warning line.
    Only node 0 of a multi-node job writes it (the other nodes write nothing to their output
    folder, as for the model and the metrics)."""
    if os.environ.get("PET_NODE_RANK", "0").strip() not in ("", "0"):
        return None
    src = (datasets or datasets_root()) / "labels" / "val" / "labels.json"
    root = train or Path(os.environ.get("TRAIN_ROOT") or "/train")
    if not src.is_file() or not (train or os.environ.get("TRAIN_ROOT") or root.is_dir()):
        return None
    dest = root / REPORT_SPLIT
    head = {k: manifest.get(k) for k in ("dataset_id", "task", "seed")}
    tmp = dest.with_name(f".{REPORT_SPLIT}.tmp")
    try:
        root.mkdir(parents=True, exist_ok=True)
        with open(src, "rb") as fin, open(tmp, "wb") as fout:
            fout.write(json.dumps({"version": 1, **head}).encode()[:-1] + b', "val": ')
            shutil.copyfileobj(fin, fout, 1 << 20)
            fout.write(b"}\n")
        os.replace(tmp, dest)
    except OSError as exc:
        print(f"[setup] warning: {dest}: not written ({exc.strerror or exc}); tc report "
              "will show no validation images", flush=True)
        with contextlib.suppress(OSError):
            tmp.unlink()
        return None
    return dest


# ----------------------------------------------------------------------------- CLI

def main(argv: Sequence[str] | None = None) -> int:
    """``python dataset.py <task>``: run the dataset stage alone (setup.py does this too)."""
    import argparse

    p = argparse.ArgumentParser(description="Prepare the dataset for training.")
    p.add_argument("task", choices=TASKS)
    p.add_argument("--formats", default=None, help="comma list: coco,yolo,imagefolder")
    p.add_argument("--train-split", type=float, default=0.8)
    p.add_argument("--test-split", type=float, default=0.2)
    a = p.parse_args(argv)
    try:
        prepare(a.task, {"train-split": a.train_split, "test-split": a.test_split},
                formats=a.formats.split(",") if a.formats else None)
    except DatasetError as exc:
        print(f"setup: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
