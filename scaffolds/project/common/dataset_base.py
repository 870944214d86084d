# Managed by tc (`tc update` brings its new versions) — edit train.py instead.
"""The dataset stage's ground: its error, its context, where things are, and the samples.

``DatasetError`` is the one user-facing error of the stage; :class:`StageContext` carries a
run's settings and log; :func:`match_samples` pairs the files of the dataset folder with the
``<image>`` entries of annotations.xml (one dict lookup each). See dataset.py for the stage.
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cvat_dataset as cvat

#: what the stage owns under DATASETS_ROOT (replaced as a whole on every run)
OWNED = ("images", "labels", "imagefolder", "data.yaml", "split_manifest.json")
STAGING = ".tc-staging"
TRASH = ".tc-trash"
DATASET_ID_RE = re.compile(r"^[1-9][0-9]{0,17}$")
#: from this many samples on, the links are made by a worker process (started before the
#: parse) and the previous output is deleted by a detached process (env overrides below)
WORKER_MIN = 2000


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


def env_int(name: str, default: int) -> int:
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
