"""``tc dataset inspect``: statistics and problems of a dataset (platform layout or any format).

One streaming pass over the records: counts per label, annotations per image, box sizes (kept
as two float32 arrays for the report), problems with up to 3 examples each, and a small
deterministic sample of images (reservoir, fixed seed) for the contact sheets.
"""

from __future__ import annotations

import json
import random
from array import array
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tcli.contract import ANNOTATIONS_XML
from tcli.errors import InputError
from tcli.safety import confine

from .dupes import NEAR_BITS, Duplicates, Item
from .model import Losses, Record, Source

SAMPLE_SIZE = 24
PER_IMAGE_BUCKETS = ((0, 0), (1, 1), (2, 5), (6, 10), (11, 50), (51, 10**12))


@dataclass
class Problem:
    kind: str
    count: int
    examples: list[str]


@dataclass
class Inspection:
    path: Path
    format: str
    layout: str  # "platform" or "source"
    files: int
    images: int
    shapes: int
    kinds: dict[str, int]
    labels: list[tuple[str, int, int]]  # name, shapes, images
    per_image: list[tuple[str, int]]  # bucket label, images
    per_image_max: int
    box_w: array[float] = field(repr=False)
    box_h: array[float] = field(repr=False)
    problems: list[Problem]
    samples: list[Record] = field(repr=False, default_factory=list)
    labels_list: list[str] = field(default_factory=list)
    #: why ``--format auto`` chose the format (a source layout), else None
    detected: str | None = None
    #: samples the report could not draw (file: why), filled by the report
    not_drawn: list[str] = field(default_factory=list)
    #: exact/near duplicates and those straddling the source's subsets (None: not looked for)
    duplicates: Duplicates | None = None

    def box_summary(self) -> dict[str, float | int]:
        import numpy as np

        if not len(self.box_w):
            return {"boxes+extents": 0}
        w = np.frombuffer(self.box_w, dtype=np.float32)
        h = np.frombuffer(self.box_h, dtype=np.float32)
        area = w.astype(np.float64) * h
        q = np.percentile(np.sqrt(np.maximum(area, 0)), [5, 50, 95])
        return {"boxes+extents": int(w.size), "small (<32²)": int((area < 32 ** 2).sum()),
                "medium": int(((area >= 32 ** 2) & (area < 96 ** 2)).sum()),
                "large (≥96²)": int((area >= 96 ** 2).sum()),
                "sqrt(area) p5": round(float(q[0]), 1), "median": round(float(q[1]), 1),
                "p95": round(float(q[2]), 1)}

    def as_dict(self) -> dict[str, object]:
        return {"path": str(self.path), "format": self.format, "detected": self.detected,
                "layout": self.layout,
                "files": self.files, "images": self.images, "shapes": self.shapes,
                "kinds": self.kinds,
                "labels": [{"name": n, "shapes": s, "images": i} for n, s, i in self.labels],
                "annotations_per_image": dict(self.per_image),
                "annotations_per_image_max": self.per_image_max,
                "box_sizes": self.box_summary(),
                "problems": [{"kind": p.kind, "count": p.count, "examples": p.examples}
                             for p in self.problems],
                "duplicates": self.duplicates.as_dict() if self.duplicates else None}


@dataclass
class InspectResult:
    """What ``tc dataset inspect`` prints: the inspection and the report's files (``--report``)."""

    inspection: Inspection
    report: list[Path] = field(default_factory=list)

    def to_json(self) -> str:
        doc = self.inspection.as_dict()
        if self.report:
            doc["report"] = [str(p) for p in self.report]
            doc["not_drawn"] = self.inspection.not_drawn
        return json.dumps(doc, indent=2, ensure_ascii=False)


def locate(path: Path) -> tuple[Path, bool]:
    """(folder, is platform layout). ``DIR``, ``DIR/datasets/<N>`` or a source folder."""
    if not path.exists():
        raise InputError(f"{path}: does not exist")
    if path.is_dir() and (path / "annotations" / ANNOTATIONS_XML).is_file() and any(
            p.is_file() and not p.name.startswith(".") for p in path.iterdir()):
        return path, True
    ds = path / "datasets"
    if ds.is_dir():
        found = sorted((p for p in ds.iterdir() if p.is_dir() and p.name.isdigit()
                        and (p / "annotations" / ANNOTATIONS_XML).is_file()),
                       key=lambda p: int(p.name))
        if len(found) == 1:
            return found[0], True
        if len(found) > 1:
            raise InputError(f"{path}: holds datasets {', '.join(p.name for p in found)}; "
                             f"inspect one: {ds}/<N>")
    return path, False


def inspect(path: Path, fmt: str = "auto", decode: bool = False, classes: str | None = None,
            duplicates: bool = True) -> Inspection:
    from .cvat import read_cvat
    from .importer import open_source

    folder, platform = locate(path)
    why: str | None = None
    real = confine.resolve(folder if folder.is_absolute() else Path.cwd() / folder, "DIR")
    if platform:
        source: Source = read_cvat(real, Losses(), flat=True)
    else:
        source, why = open_source(real, fmt, classes)
    ins = _scan(folder, source, platform, decode, duplicates)
    ins.detected = why
    return ins


def _duplicate_problems(found: Duplicates) -> list[Problem]:
    """The duplicates as problems (examples: the first 3 groups)."""
    out: list[Problem] = []
    if found.exact_groups:
        out.append(Problem("exact duplicates (same bytes; groups)", found.exact_groups,
                           [" = ".join(g[:4]) for g in found.exact[:3]]))
    if found.near_groups:
        out.append(Problem(f"near duplicates (dHash within {NEAR_BITS} of 64 bits; groups)",
                           found.near_groups, [" ~ ".join(g[:4]) for g in found.near[:3]]))
    if found.straddling_groups:
        out.append(Problem("duplicates across the source's subsets (a train/val leak; groups)",
                           found.straddling_groups,
                           [" ~ ".join(g["images"][:4]) for g in found.straddling[:3]]))
    if found.not_hashed:
        out.append(Problem("images not checked for duplicates", len(found.not_hashed),
                           found.not_hashed[:3]))
    return out


def _scan(folder: Path, source: Source, platform: bool, decode: bool,
          duplicates: bool = True) -> Inspection:
    from .imagesize import decode_check

    probs: dict[str, Problem] = {}

    def problem(kind: str, example: str) -> None:
        p = probs.get(kind)
        if p is None:
            p = probs[kind] = Problem(kind, 0, [])
        p.count += 1
        if len(p.examples) < 3:
            p.examples.append(example)

    shapes_per_label: Counter[int] = Counter()
    images_per_label: Counter[int] = Counter()
    primary: Counter[int] = Counter()
    kinds: Counter[str] = Counter()
    per_image: Counter[str] = Counter()
    bw, bh = array("f"), array("f")
    rng = random.Random(0)
    samples: list[Record] = []
    names: Counter[str] = Counter()
    items: list[Item] = []
    n_img = n_shapes = per_max = 0
    for rec in source.records():
        base = rec.rel
        if rec.missing:
            continue  # the reader counted it in its losses (annotations without files)
        names[rec.rel.rsplit("/", 1)[-1]] += 1
        if duplicates:
            items.append(Item(rec.rel, Path(rec.path), rec.subset))
        n_img += 1
        k = len(rec.shapes)
        n_shapes += k
        per_max = max(per_max, k)
        for lo, hi in PER_IMAGE_BUCKETS:
            if lo <= k <= hi:
                per_image[_bucket(lo, hi)] += 1
                break
        if k == 0:
            problem("images without annotations", base)
        seen: set[int] = set()
        W, H = rec.width, rec.height
        for s in rec.shapes:
            kinds[s.kind] += 1
            shapes_per_label[s.label] += 1
            seen.add(s.label)
            if s.kind == "box":
                x0, y0, x1, y1 = s.data
                w, h = x1 - x0, y1 - y0
                bw.append(w)
                bh.append(h)
                if w < 1 or h < 1:
                    problem("degenerate boxes (width or height < 1 px)",
                            f"{base}: {w:.3g}x{h:.3g}")
                elif W > 0 and H > 0 and (x0 < -0.5 or y0 < -0.5 or x1 > W + 0.5
                                          or y1 > H + 0.5):
                    problem("boxes outside the image",
                            f"{base}: ({x0:.1f},{y0:.1f})-({x1:.1f},{y1:.1f}) in {W}x{H}")
            elif s.kind == "polygon" and s.data:  # its extent joins the size distribution
                xs, ys = s.data[0::2], s.data[1::2]
                bw.append(max(xs) - min(xs))
                bh.append(max(ys) - min(ys))
            elif s.kind == "mask":
                bw.append(s.data[2])
                bh.append(s.data[3])
        for li in seen:
            images_per_label[li] += 1
        if rec.shapes:
            primary[rec.shapes[0].label] += 1
        if decode:
            got = decode_check(rec.path)
            if isinstance(got, str):
                problem("corrupt images (do not decode)", f"{base}: {got}")
            elif W > 0 and H > 0 and got != (W, H):
                problem("image size differs from the annotations",
                        f"{base}: file {got[0]}x{got[1]}, annotated {W}x{H}")
        if len(samples) < SAMPLE_SIZE:
            samples.append(rec)
        else:
            j = rng.randrange(n_img)
            if j < SAMPLE_SIZE:
                samples[j] = rec
        rec.raw_xml = None
    for what, n in source.losses.counts.items():
        if what.startswith("annotated images without a file"):
            probs["annotations without files"] = Problem(
                "annotations without files", n, source.losses.examples.get(what, []))
    for rel in source.unreferenced:
        problem("files without annotations (not referenced)", rel)
    for name, c in names.items():
        if c > 1:
            problem("duplicate file names", f"{name} ({c}x)")
    labels = source.labels
    for i, name in enumerate(labels):
        if not shapes_per_label[i]:
            problem("declared but unused labels", name)
    for i, name in enumerate(labels):
        if 0 < primary[i] < 2:
            problem("classes too small for a stratified split (< 2 images)",
                    f"{name}: {primary[i]}")
    for what, n in source.losses.counts.items():
        if not what.startswith("annotated images without a file"):
            probs.setdefault(what, Problem(what, n, source.losses.examples.get(what, [])))
    found = None
    if duplicates:
        from .dupes import find

        found = find(items)
        for p in _duplicate_problems(found):
            probs[p.kind] = p
    return Inspection(
        folder, source.format, "platform" if platform else "source",
        n_img + len(source.unreferenced), n_img, n_shapes,
        dict(kinds), [(n, shapes_per_label[i], images_per_label[i]) for i, n in enumerate(labels)],
        [(_bucket(lo, hi), per_image[_bucket(lo, hi)]) for lo, hi in PER_IMAGE_BUCKETS],
        per_max, bw, bh, list(probs.values()), samples, list(labels), duplicates=found)


def _bucket(lo: int, hi: int) -> str:
    if lo == hi:
        return str(lo)
    if hi >= 10**12:
        return f"{lo}+"
    return f"{lo}-{hi}"
