"""Dataset stage of a train container: samples + CVAT annotations -> split dataset on disk.

``prepare(task=...)`` reads ``$MINIO_ROOT/datasets/$DATASET_ID/`` (samples = the regular,
non-hidden files directly in it; ``annotations/annotations.xml`` in CVAT for images 1.1),
matches samples to ``<image>`` entries by file name (one dict lookup each), splits them
(stratified, fixed seed) and writes under ``$DATASETS_ROOT``::

    images/{train,val[,test]}/<file>          symlinks into MinIO
    labels/{train,val[,test]}/labels.json     COCO
    labels/<split>/<stem>.txt + data.yaml     YOLO (format "yolo")
    imagefolder/<split>/<class>/<file>        ImageFolder (format "imagefolder")
    split_manifest.json                        every sample and its split

Every output is built in ``$DATASETS_ROOT/.tc-staging`` and renamed into place, so a rerun
(``docker start``, maybe with another DATASET_ID) succeeds and leaves nothing stale.
The exact layout is documented in docs/runtime.md. Plain module: ``main(argv) -> int``.
"""

# ruff: noqa: UP031  (printf-style formatting is the fast path for millions of lines)
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
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
NONE_LABEL = "<none>"
DATASET_ID_RE = re.compile(r"^[1-9][0-9]{0,17}$")


class DatasetError(Exception):
    """A dataset problem the user must fix; the message names the file or variable."""


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
    ``train + test < 1`` the remainder goes to ``test``. Stratified on ``keys`` when
    scikit-learn can, else random (returns the reason). Deterministic for a seed.
    """
    n = len(keys)
    if train < 0 or test < 0 or train + test > 1 + 1e-9:
        raise DatasetError(f"train-split={train} and test-split={test}: each must be in 0..1 "
                           "and their sum at most 1")
    rest = max(0.0, 1.0 - train - test)
    if rest < 1e-9:
        rest = 0.0
    out = ["train"] * n
    if n == 0:
        return out, False, "empty"
    idx = list(range(n))
    try:
        assign = _stratified(idx, list(keys), train, test, rest, seed)
        return [assign[i] for i in idx], True, None
    except ValueError as exc:
        reason = str(exc).splitlines()[0]
    import numpy as np

    rng = np.random.default_rng(seed)
    perm = rng.permutation(n).tolist()
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
    return out, False, reason


def _stratified(idx: list[int], keys: list[str], train: float, test: float, rest: float,
                seed: int) -> dict[int, str]:
    from sklearn.model_selection import train_test_split

    counts = Counter(keys)
    if len(counts) < 2:
        raise ValueError("only one class: nothing to stratify")
    small = sorted(k for k, c in counts.items() if c < 2)
    if small:
        raise ValueError(f"classes with fewer than 2 samples: {', '.join(small[:5])}")
    if train <= 0 or test <= 0:
        raise ValueError("a split fraction is 0")
    held = test + rest
    tr, ho, _ktr, kho = train_test_split(idx, keys, train_size=train, test_size=held,
                                         stratify=keys, random_state=seed)
    assign = dict.fromkeys(tr, "train")
    if rest > 0:
        va, te = train_test_split(ho, test_size=rest / held, stratify=kho, random_state=seed)
        assign.update(dict.fromkeys(va, "val"))
        assign.update(dict.fromkeys(te, "test"))
    else:
        assign.update(dict.fromkeys(ho, "val"))
    return assign


#: datasets with at least this many files import scikit-learn in a forked worker while the
#: parent parses the XML (uses a second core; the import alone takes about a second)
SPLIT_WORKER_MIN = 2000


def _warm_split() -> None:
    # an import failure is fine: split_samples falls back to a random split by itself
    with contextlib.suppress(Exception):
        import sklearn.model_selection  # noqa: F401


class _SplitWorker:
    """A one-process pool that runs :func:`split_samples` after importing scikit-learn.

    Started before parsing, so the import overlaps with the parse on another core. The
    result is the same function's result: only where it is computed differs. Any trouble
    with the worker (no ``fork``, no /dev/shm, a crash) falls back to the in-process call.
    """

    def __init__(self) -> None:
        import multiprocessing as mp

        self._pool: Any = mp.get_context("fork").Pool(1, initializer=_warm_split)

    @classmethod
    def start(cls, n_files: int) -> _SplitWorker | None:
        if n_files < int(os.environ.get("TC_SPLIT_WORKER_MIN") or SPLIT_WORKER_MIN) or \
                os.environ.get("TC_SPLIT_WORKER") == "0":
            return None
        try:
            return cls()
        except Exception:  # pragma: no cover - platform without fork/semaphores
            return None

    def submit(self, keys: Sequence[str], train: float, test: float, seed: int) -> None:
        self._args = (list(keys), train, test, seed)
        self._pending = self._pool.apply_async(split_samples, self._args)

    def ready(self) -> bool:
        return bool(self._pending.ready())

    def result(self) -> tuple[list[str], bool, str | None]:
        try:
            res: tuple[list[str], bool, str | None] = self._pending.get()
            return res
        except DatasetError:
            raise
        except Exception:  # pragma: no cover - worker died: compute here
            return split_samples(*self._args)
        finally:
            self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool = None


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
    seen: dict[int, None] = {}
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
    for lab in ann.boxes.label[img.b0:img.b1]:
        seen[lab] = None
    for s in img.shapes or ():
        seen[s[1]] = None
    labels = list(seen)
    return labels, (labels[0] if labels else -1)


# ----------------------------------------------------------------------------- writers

def _g(v: float) -> str:
    return "%.10g" % v


def _attrs_json(occluded: bool, z: int, extra: Iterable[tuple[str, str]] | None) -> str:
    s = '{"occluded":%s,"z_order":%d' % ("true" if occluded else "false", z)
    if extra:
        for k, v in extra:
            s += "," + json.dumps(k) + ":" + json.dumps(v)
    return s + "}"


class BoxTails:
    """COCO annotation lines of an image's boxes, without the leading ``{"id":N``.

    The annotation id is the only part that depends on the split, so these can be made
    before the split is known (while the split worker finishes) and joined to ids later.
    """

    def __init__(self, ann: cvat.CvatAnnotations, seg: bool) -> None:
        self.b = ann.boxes
        self.seg = seg
        self.plain_attrs: dict[int, str] = {}  # flags -> attributes JSON without extras

    def __call__(self, iid: int, img: cvat.CvatImage) -> list[str]:
        b = self.b
        bx, by, bw, bh, bl, bf, ba = b.x, b.y, b.w, b.h, b.label, b.flags, b.attrs
        plain_attrs = self.plain_attrs
        out = []
        for k in range(img.b0, img.b1):
            x, y, w, h = bx[k], by[k], bw[k], bh[k]
            f = bf[k]
            at = (_attrs_json(bool(f & 1), f >> 1, ba[k]) if ba and k in ba
                  else plain_attrs.get(f))
            if at is None:
                at = plain_attrs[f] = _attrs_json(bool(f & 1), f >> 1, None)
            if self.seg:
                x2, y2 = x + w, y + h
                out.append(
                    ',"image_id":%d,"category_id":%d,"bbox":[%s,%s,%s,%s],'
                    '"area":%s,"iscrowd":0,"segmentation":[[%s,%s,%s,%s,%s,%s,%s,%s]],'
                    '"attributes":%s}'
                    % (iid, bl[k] + 1, _g(x), _g(y), _g(w), _g(h), _g(w * h),
                       _g(x), _g(y), _g(x2), _g(y), _g(x2), _g(y2), _g(x), _g(y2), at))
            else:
                out.append(
                    ',"image_id":%d,"category_id":%d,"bbox":[%.10g,%.10g,%.10g,'
                    '%.10g],"area":%.10g,"iscrowd":0,"attributes":%s}'
                    % (iid, bl[k] + 1, x, y, w, h, w * h, at))
        return out


def prerender_boxes(samples: Sequence[Sample], ann: cvat.CvatAnnotations, task: str,
                    done: Callable[[], bool]) -> dict[int, list[str]]:
    """Box lines of samples in order until ``done()`` (checked every 256 samples): work that
    fills the wait for the split worker and no more, so peak memory stays that of a run
    without it once the worker is ready first (large datasets)."""
    out: dict[int, list[str]] = {}
    if task not in ("detection", "segmentation"):
        return out
    tails = BoxTails(ann, task == "segmentation")
    for i, s in enumerate(samples):
        if not i & 255 and done():
            break
        img = s.image
        if img is not None and img.b1 > img.b0:
            out[s.id] = tails(s.id, img)
    return out


def write_coco(path: Path, samples: Sequence[Sample], ann: cvat.CvatAnnotations | None,
               labels: Sequence[str], task: str, info: dict[str, Any], next_ann_id: int,
               warn: Counter[str], pre: dict[int, list[str]] | None = None) -> int:
    """Write one COCO ``labels.json``, streaming. Returns the next free annotation id.

    ``pre`` holds box lines made by :func:`prerender_boxes` (used and removed per image).
    """
    seg = task == "segmentation"
    det = task in ("detection", "segmentation")
    parts: list[str] = []
    head = {"info": info, "licenses": [],
            "categories": [{"id": i + 1, "name": n, "supercategory": ""}
                           for i, n in enumerate(labels)]}
    parts.append(json.dumps(head)[:-1] + ',"images":[\n')
    parts.append(",\n".join(
        '{"id":%d,"file_name":%s,"width":%d,"height":%d}'
        % (s.id, json.dumps(s.file_name), s.width, s.height) for s in samples))
    parts.append('\n],"annotations":[\n')
    tmp = path.with_name(path.name + ".tmp")
    fh = open(tmp, "w", encoding="utf-8")  # noqa: SIM115 - closed below, streamed in chunks
    fh.write("".join(parts))
    lines: list[str] = []
    first_chunk = True

    def flush() -> None:
        nonlocal first_chunk
        if lines:
            fh.write(("" if first_chunk else ",\n") + ",\n".join(lines))
            first_chunk = False
            lines.clear()

    aid = next_ann_id
    if ann is not None:
        box_tails = BoxTails(ann, seg)
        for s in samples:
            img = s.image
            if img is None:
                continue
            if len(lines) >= 20000:
                flush()
            iid = s.id
            if not det:
                if s.labels:
                    tags = [t for t in (img.shapes or ()) if t[0] == "tag"]
                    if tags:
                        for t in tags:
                            lines.append('{"id":%d,"image_id":%d,"category_id":%d}'
                                         % (aid, iid, t[1] + 1))
                            aid += 1
                    else:
                        lines.append('{"id":%d,"image_id":%d,"category_id":%d}'
                                     % (aid, iid, s.primary + 1))
                        aid += 1
                continue
            if img.b1 > img.b0:
                tails = pre.pop(iid, None) if pre else None
                if tails is None:
                    tails = box_tails(iid, img)
                for tail in tails:
                    lines.append('{"id":%d%s' % (aid, tail))
                    aid += 1
            for kind, lab, data, occ, z, extra in img.shapes or ():
                a: dict[str, Any] = {"id": aid, "image_id": iid, "category_id": lab + 1}
                if kind == "polygon":
                    a["bbox"] = cvat.polygon_bbox(data)
                    a["area"] = cvat.polygon_area(data)
                    a["iscrowd"] = 0
                    a["segmentation"] = [data]
                elif kind == "mask":
                    left, top, mw, mh, rle = data
                    if seg:
                        try:
                            rle_d, area, bbox = cvat.cvat_rle_to_coco(
                                left, top, mw, mh, rle, s.width, s.height)
                        except cvat.CvatError as exc:
                            raise DatasetError(f"{ann.path}: image {img.xml_name!r}: {exc}"
                                               ) from None
                        a["bbox"], a["area"], a["iscrowd"] = bbox, area, 1
                        a["segmentation"] = rle_d
                    else:
                        a["bbox"] = [float(left), float(top), float(mw), float(mh)]
                        a["area"] = float(mw * mh)
                        a["iscrowd"] = 0
                else:
                    continue
                a["attributes"] = json.loads(_attrs_json(occ, z, extra))
                lines.append(json.dumps(a, separators=(",", ":")))
                aid += 1
    flush()
    fh.write("\n]}\n")
    fh.close()
    os.replace(tmp, path)
    return aid


def write_yolo(folder: Path, samples: Sequence[Sample], ann: cvat.CvatAnnotations,
               task: str, warn: Counter[str]) -> None:
    """One ``<stem>.txt`` per sample (empty for negatives), normalised coordinates."""
    b = ann.boxes
    for s in samples:
        lines: list[str] = []
        img = s.image
        W, H = float(s.width or 1), float(s.height or 1)
        if img is not None:
            for k in range(img.b0, img.b1):
                x, y, w, h = b.x[k], b.y[k], b.w[k], b.h[k]
                if task == "segmentation":
                    pts = (x, y, x + w, y, x + w, y + h, x, y + h)
                    lines.append("%d " % b.label[k] + " ".join(
                        "%.6f" % (v / (W if i % 2 == 0 else H)) for i, v in enumerate(pts)))
                else:
                    lines.append("%d %.6f %.6f %.6f %.6f" % (
                        b.label[k], (x + w / 2) / W, (y + h / 2) / H, w / W, h / H))
            for kind, lab, data, _o, _z, _a in img.shapes or ():
                if kind == "polygon":
                    if task == "segmentation":
                        lines.append("%d " % lab + " ".join(
                            "%.6f" % (v / (W if i % 2 == 0 else H)) for i, v in enumerate(data)))
                    else:
                        x, y, w, h = cvat.polygon_bbox(data)
                        lines.append("%d %.6f %.6f %.6f %.6f" % (
                            lab, (x + w / 2) / W, (y + h / 2) / H, w / W, h / H))
                elif kind == "mask":
                    warn["masks left out of YOLO files"] += 1
        (folder / (os.path.splitext(s.file_name)[0] + ".txt")).write_text(
            "".join(line + "\n" for line in lines))


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


def _rmtree(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def _swap_in(root: Path, staging: Path) -> None:
    """Move every owned output from ``staging`` into ``root``; remove old versions."""
    trash = root / TRASH
    _rmtree(trash)
    trash.mkdir()
    for name in OWNED:
        cur, new = root / name, staging / name
        if os.path.lexists(cur):
            os.rename(cur, trash / name)
        if os.path.lexists(new):
            os.rename(new, cur)
    _rmtree(trash)
    _rmtree(staging)


# ----------------------------------------------------------------------------- prepare

def prepare(task: str, config: dict[str, Any] | None = None, *,
            dataset_id: str | None = None, minio: Path | None = None,
            datasets: Path | None = None, formats: Sequence[str] | None = None,
            seed: int | None = None, log: Callable[[str], None] | None = None
            ) -> dict[str, Any]:
    """Run the dataset stage. Returns a summary dict (also written as split_manifest.json
    without the samples list). Raises DatasetError (or cvat.CvatError) for user errors."""
    t0 = time.perf_counter()
    say = log or (lambda m: print(f"[setup] {m}", flush=True))
    if task not in TASKS:
        raise DatasetError(f"task {task!r} is not one of {', '.join(TASKS)}")
    cfg = config or {}
    ds_id = check_dataset_id(dataset_id if dataset_id is not None
                             else os.environ.get("DATASET_ID"))
    src = dataset_dir(ds_id, minio)
    out_root = datasets or datasets_root()
    fmts = _formats(task, formats)
    if seed is None:
        seed = int(os.environ.get("SPLIT_SEED") or 42)
    train_r = float(cfg.get("train-split", 0.8))
    test_r = float(cfg.get("test-split", 0.2))

    names = list_samples(src)
    if not names:
        raise DatasetError(f"{src}: no samples (regular non-hidden files) in the dataset folder")
    xml = src / "annotations" / "annotations.xml"
    if not xml.is_file():
        raise DatasetError(f"{xml}: missing; upload the CVAT for images 1.1 export with the "
                           "dataset")
    timings = {"list": time.perf_counter() - t0}
    worker = _SplitWorker.start(len(names))
    try:
        return _prepare(task, ds_id, src, xml, names, out_root, fmts, seed, train_r,
                        test_r, say, worker, timings, t0)
    finally:
        if worker is not None:
            worker.close()


def _prepare(task: str, ds_id: str, src: Path, xml: Path,
             names: list[str], out_root: Path, fmts: tuple[str, ...], seed: int,
             train_r: float, test_r: float, say: Callable[[str], None],
             worker: _SplitWorker | None, timings: dict[str, float], t0: float
             ) -> dict[str, Any]:
    t = time.perf_counter()
    try:
        ann = cvat.parse_cvat(xml, KEEP[task])
    except cvat.CvatError as exc:
        raise DatasetError(str(exc)) from None
    timings["parse"] = time.perf_counter() - t
    t = time.perf_counter()
    warn: Counter[str] = Counter(ann.warnings)

    src_s = str(src)
    samples: list[Sample] = []
    matched = 0
    images = ann.images
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
        say(f"note: e.g. {images[example].xml_name!r} is annotated but {example!r} is not "
            f"in {src}")
    if not samples:
        raise DatasetError(f"{src}: no usable image samples")
    for i, s in enumerate(samples):
        s.id = i + 1

    labels = ann.labels
    keys = [labels[s.primary] if s.primary >= 0 else NONE_LABEL for s in samples]
    timings["match"] = time.perf_counter() - t
    t = time.perf_counter()
    pre: dict[int, list[str]] = {}
    if worker is not None:
        worker.submit(keys, train_r, test_r, seed)
        pre = prerender_boxes(samples, ann, task, worker.ready)
        assign, stratified, reason = worker.result()
    else:
        assign, stratified, reason = split_samples(keys, train_r, test_r, seed)
    timings["split"] = time.perf_counter() - t
    t = time.perf_counter()
    if not stratified:
        say(f"warning: random split (not stratified): {reason}")
    splits: dict[str, list[Sample]] = {"train": [], "val": []}
    for s, sp in zip(samples, assign, strict=True):
        splits.setdefault(sp, []).append(s)
    if "yolo" in fmts:
        stems: dict[str, str] = {}
        for s in samples:
            stem = os.path.splitext(s.file_name)[0]
            if stem in stems:
                raise DatasetError(f"{src}: {stems[stem]!r} and {s.file_name!r} share the stem "
                                   f"{stem!r}; YOLO label files would collide")
            stems[stem] = s.file_name

    manifest: dict[str, Any] = {
        "version": 1, "dataset_id": ds_id, "task": task, "seed": seed,
        "ratios": {"train": train_r, "val": test_r,
                   "test": round(max(0.0, 1 - train_r - test_r), 10)},
        "stratified": stratified, "fallback_reason": reason if not stratified else None,
        "labels": list(labels), "formats": list(fmts),
        "counts": {k: len(v) for k, v in splits.items()},
    }
    try:
        _write_all(out_root, src_s, splits, ann, labels, task, fmts, manifest, warn, ds_id,
                   pre)
    except OSError as exc:
        raise DatasetError(f"{out_root}: cannot write the dataset ({exc.strerror or exc}: "
                           f"{exc.filename or out_root}); set DATASETS_ROOT to a writable "
                           "folder") from None
    timings["write"] = time.perf_counter() - t
    for what, n in sorted(warn.items()):
        say(f"warning: {n} {what}")
    counts = " / ".join(f"{len(v)} {k}" for k, v in splits.items())
    say(f"dataset {ds_id}: {len(samples)} samples ({counts}), {len(labels)} labels, "
        f"{len(ann.boxes)} boxes, {'stratified' if stratified else 'random'} split; wrote "
        f"{out_root} ({', '.join(fmts)}) in {time.perf_counter() - t0:.2f} s")
    manifest["warnings"] = dict(sorted(warn.items()))
    manifest["timings"] = {k: round(v, 3) for k, v in timings.items()}
    return manifest


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


def _write_all(root: Path, src: str, splits: dict[str, list[Sample]],
               ann: cvat.CvatAnnotations, labels: list[str], task: str,
               fmts: Sequence[str], manifest: dict[str, Any], warn: Counter[str],
               ds_id: str, pre: dict[int, list[str]] | None = None) -> None:
    root.mkdir(parents=True, exist_ok=True)
    staging = root / STAGING
    _rmtree(staging)
    staging.mkdir()
    sym = os.symlink
    join = os.path.join
    folders: dict[str, str] = {}
    if "imagefolder" in fmts:
        for name in labels:
            f = class_folder(name)
            if f in folders:
                raise DatasetError(f"labels {folders[f]!r} and {name!r} map to the same "
                                   f"ImageFolder class folder {f!r}")
            folders[f] = name
    cls_dir = {name: class_folder(name) for name in labels}
    # (link folder, samples) jobs; the links are made in a thread while the label files are
    # written here (os.symlink releases the GIL, so the two overlap on two cores)
    jobs: list[tuple[str, list[Sample]]] = []
    for split, items in splits.items():
        (staging / "images" / split).mkdir(parents=True)
        (staging / "labels" / split).mkdir(parents=True)
        jobs.append((str(staging / "images" / split), items))
        if "imagefolder" in fmts:
            base = staging / "imagefolder" / split
            base.mkdir(parents=True)
            by_class: dict[int, list[Sample]] = {}
            for s in items:
                if s.primary < 0:
                    warn["images without a class (left out of imagefolder/)"] += 1
                else:
                    by_class.setdefault(s.primary, []).append(s)
            for i, name in enumerate(labels):
                (base / cls_dir[name]).mkdir()
                if i in by_class:
                    jobs.append((str(base / cls_dir[name]), by_class[i]))

    def link_all() -> None:
        for d, items in jobs:
            for s in items:
                sym(join(src, s.file_name), join(d, s.file_name))

    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(1)
    linking = pool.submit(link_all)
    try:
        _write_labels(root, staging, splits, ann, labels, task, fmts, manifest, warn, ds_id,
                      pre)
    finally:
        pool.shutdown(wait=True)
    linking.result()  # re-raises an OSError from the links
    _swap_in(root, staging)


def _write_labels(root: Path, staging: Path, splits: dict[str, list[Sample]],
                  ann: cvat.CvatAnnotations, labels: list[str], task: str,
                  fmts: Sequence[str], manifest: dict[str, Any], warn: Counter[str],
                  ds_id: str, pre: dict[int, list[str]] | None) -> None:
    """COCO (and YOLO) label files per split, data.yaml, split_manifest.json (in staging)."""
    aid = 1
    for split, items in splits.items():
        lab_dir = staging / "labels" / split
        info = {"description": f"dataset {ds_id}, split {split}", "dataset_id": ds_id,
                "split": split, "task": task}
        aid = write_coco(lab_dir / "labels.json", items, ann, labels, task, info, aid, warn,
                         pre)
        if "yolo" in fmts:
            write_yolo(lab_dir, items, ann, task, warn)
    if "yolo" in fmts:
        yaml = [f"path: {json.dumps(str(root))}"]
        for split in splits:
            yaml.append(f"{split}: images/{split}")
        yaml.append(f"nc: {len(labels)}")
        yaml.append("names: [" + ", ".join(json.dumps(n) for n in labels) + "]")
        _write_text(staging / "data.yaml", "\n".join(yaml) + "\n")
    head = dict(manifest)
    head["warnings"] = dict(sorted(warn.items()))
    rows = []
    order: list[tuple[int, str, Sample]] = []
    for split, items in splits.items():
        order.extend((s.id, split, s) for s in items)
    order.sort(key=lambda t: t[0])
    # one row per sample, formatted directly (as json.dumps of the dict would, 3x faster)
    enc = json.JSONEncoder(ensure_ascii=False).encode
    labels_json: dict[tuple[int, ...], str] = {}
    for _id, split, s in order:
        img = s.image
        key = tuple(s.labels)
        lj = labels_json.get(key)
        if lj is None:
            lj = labels_json[key] = enc([labels[i] for i in key])
        rows.append('{"file_name": %s, "split": %s, "labels": %s, "xml_name": %s, "subset": %s}'
                    % (enc(s.file_name), enc(split), lj, enc(img.xml_name) if img else "null",
                       enc(img.subset) if img else "null"))
    text = json.dumps(head, indent=2, ensure_ascii=False)[:-2] + ',\n  "samples": [\n    ' + \
        ",\n    ".join(rows) + "\n  ]\n}\n"
    _write_text(staging / "split_manifest.json", text)


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
