"""Synthetic CVAT-for-images 1.1 datasets: coloured shapes on noisy backgrounds.

Used by ``tc demo-data`` and ``tc dev-run --demo``. The layout is the platform's MinIO layout::

    <minio_root>/datasets/<id>/0000.png ...
    <minio_root>/datasets/<id>/annotations/annotations.xml

Three shape classes (``circle``, ``square``, ``triangle``), each drawn in its own colour family
(red, green, blue, jittered) so every template can learn something measurable in a minute on CPU.

- ``classification`` (and ``sklearn``): one shape per image, a ``<tag>`` with its label.
- ``detection``: one to three shapes per image, a ``<box>`` for each.
- ``segmentation``: one to three shapes per image, a ``<polygon>`` for each (circles are
  24-gons, so the drawn pixels and the polygon agree).

Only Pillow and numpy; the output depends on ``seed`` alone (same seed, same bytes). The
annotations are written by the one CVAT writer (:mod:`tcli.datasets.cvat_writer`).
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tcli.contract import ANNOTATIONS_XML, DATASET_TASKS, TASK_ALIASES
from tcli.datasets.cvat_writer import CvatWriter
from tcli.datasets.model import Record
from tcli.datasets.model import Shape as CvatShape
from tcli.errors import InputError
from tcli.safety import atomic, made

TASKS: tuple[str, ...] = DATASET_TASKS
# template names accepted as aliases of a task
ALIASES: dict[str, str] = TASK_ALIASES
LABELS: tuple[str, ...] = ("circle", "square", "triangle")
LABEL_COLORS: dict[str, str] = {"circle": "#e0402f", "square": "#3fbf4a", "triangle": "#3f5fdf"}
BASE_RGB: dict[str, tuple[int, int, int]] = {
    "circle": (215, 60, 45),
    "square": (60, 190, 70),
    "triangle": (60, 90, 220),
}
DEFAULT_IMAGES: dict[str, int] = {"classification": 120, "detection": 100, "segmentation": 100}
DEFAULT_SIZE: dict[str, int] = {"classification": 64, "detection": 96, "segmentation": 64}
MAX_IMAGES = 100_000
MAX_DATASET_ID = 2**31 - 1
ANNOTATIONS = f"annotations/{ANNOTATIONS_XML}"


@dataclass(frozen=True)
class Shape:
    """One drawn shape: its label and its outline (polygon points, pixel coordinates)."""

    label: str
    points: tuple[tuple[float, float], ...]

    @property
    def box(self) -> tuple[float, float, float, float]:
        """``(xtl, ytl, xbr, ybr)`` of the outline."""
        xs = [p[0] for p in self.points]
        ys = [p[1] for p in self.points]
        return min(xs), min(ys), max(xs), max(ys)


def resolve_task(task: str) -> str:
    """Return the canonical task for ``task`` (a task or a template name)."""
    if any(ord(c) < 32 or ord(c) == 127 for c in task):
        raise InputError(f"--task: {task!r} holds a control character",
                         hint="use one of: " + ", ".join((*TASKS, *ALIASES)))
    name = task.strip().lower()
    name = ALIASES.get(name, name)
    if name not in TASKS:
        raise InputError(
            f"--task: unknown task {task!r}",
            hint="use one of: " + ", ".join((*TASKS, *ALIASES)),
        )
    return name


def _outline(
    label: str, cx: float, cy: float, r: float, angle: float
) -> tuple[tuple[float, float], ...]:
    if label == "circle":
        n, phase = 24, 0.0
    elif label == "square":
        n, phase = 4, math.pi / 4
    else:
        n, phase = 3, -math.pi / 2
    if label != "circle":
        phase += angle
    pts = []
    for k in range(n):
        a = phase + 2 * math.pi * k / n
        pts.append((round(cx + r * math.cos(a), 2), round(cy + r * math.sin(a), 2)))
    return tuple(pts)


def _background(rng: Any, size: int) -> Any:
    import numpy as np

    base = rng.integers(90, 170, size=3)
    noise = rng.normal(0.0, 18.0, size=(size, size, 3))
    img = np.clip(base[None, None, :] + noise, 0, 255)
    return img.astype(np.uint8)


def _colour(rng: Any, label: str) -> tuple[int, int, int]:
    jitter = rng.integers(-30, 31, size=3)
    r, g, b = (max(0, min(255, c + int(j))) for c, j in zip(BASE_RGB[label], jitter, strict=True))
    return r, g, b


def _place(
    rng: Any, size: int, count: int, r_range: tuple[float, float], single: bool
) -> list[tuple[float, float, float]]:
    """Centres and radii of ``count`` shapes that do not overlap (best effort)."""
    placed: list[tuple[float, float, float]] = []
    for _ in range(count):
        for _attempt in range(50):
            r = float(rng.uniform(*r_range))
            lo, hi = r + 1, size - r - 1
            if single:
                cx = float(rng.uniform(max(lo, size / 2 - size / 6), min(hi, size / 2 + size / 6)))
                cy = float(rng.uniform(max(lo, size / 2 - size / 6), min(hi, size / 2 + size / 6)))
            else:
                cx, cy = float(rng.uniform(lo, hi)), float(rng.uniform(lo, hi))
            if all(math.hypot(cx - x, cy - y) > r + q + 2 for x, y, q in placed):
                placed.append((cx, cy, r))
                break
    return placed


def make_image(rng: Any, task: str, size: int, index: int) -> tuple[Any, list[Shape]]:
    """Draw one image (an RGB ``PIL.Image``) and return it with its shapes."""
    from PIL import Image, ImageDraw

    img = Image.fromarray(_background(rng, size), "RGB")
    draw = ImageDraw.Draw(img)
    if task == "classification":
        label = LABELS[index % len(LABELS)]
        centres = _place(rng, size, 1, (size * 0.22, size * 0.34), single=True)
        labels = [label]
    else:
        count = int(rng.integers(1, 4))
        centres = _place(rng, size, count, (size * 0.12, size * 0.22), single=False)
        labels = [LABELS[int(rng.integers(0, len(LABELS)))] for _ in centres]
    shapes: list[Shape] = []
    for label, (cx, cy, r) in zip(labels, centres, strict=False):
        pts = _outline(label, cx, cy, r, float(rng.uniform(-0.3, 0.3)))
        draw.polygon(list(pts), fill=_colour(rng, label))
        shapes.append(Shape(label, pts))
    return img, shapes


#: The CVAT shape each task's demo images carry.
TASK_SHAPES: dict[str, str] = {"classification": "tag", "detection": "box", "segmentation": "polygon"}


def _record(task: str, file_name: str, size: int, shapes: list[Shape]) -> Record:
    """One demo image as the dataset model's record (what the CVAT writer consumes)."""
    kind = TASK_SHAPES[task]
    cvat: list[CvatShape] = []
    for shape in shapes:
        label = LABELS.index(shape.label)
        if kind == "tag":
            cvat.append(CvatShape("tag", label, None))
        elif kind == "box":
            cvat.append(CvatShape("box", label, shape.box))
        else:
            cvat.append(CvatShape("polygon", label, [c for point in shape.points for c in point]))
    return Record(file_name, file_name, size, size, cvat)


def write_annotations(path: Path, task: str, task_name: str,
                      entries: Iterable[tuple[str, int, list[Shape]]]) -> None:
    """Write ``annotations.xml`` (CVAT for images 1.1, through the one CVAT writer,
    :class:`~tcli.datasets.cvat_writer.CvatWriter`) for ``entries``: (file name, side,
    shapes) of each image, annotated as ``task``'s shape (:data:`TASK_SHAPES`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    labels = list(LABELS)
    writer = CvatWriter(path, task_name, colors=[LABEL_COLORS[name] for name in LABELS])
    try:
        for file_name, size, shapes in entries:
            writer.image(_record(task, file_name, size, shapes), file_name, labels)
        writer.close(labels, {})
    except BaseException:
        writer.abort()
        raise


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_bytes(path, data)


def write_demo_dataset(
    minio_root: Path,
    task: str,
    *,
    images: int | None = None,
    seed: int = 0,
    dataset_id: int = 1,
    size: int | None = None,
    force: bool = False,
) -> Path:
    """Write a synthetic CVAT dataset under ``minio_root`` and return its folder.

    Args:
        minio_root: the folder playing ``/minio`` (created if missing).
        task: ``classification``, ``detection`` or ``segmentation`` (``sklearn`` = classification).
        images: number of images (default per task, see ``DEFAULT_IMAGES``).
        seed: random seed; the same seed writes the same files.
        dataset_id: the numeric dataset folder under ``datasets/``.
        size: square image side in pixels (default per task, see ``DEFAULT_SIZE``).
        force: write even when the folder holds files a previous run did not write.

    Returns:
        ``<minio_root>/datasets/<dataset_id>``.

    Raises:
        InputError: unknown task, or a count/size/id out of range.
    """
    import io

    import numpy as np

    name = resolve_task(task)
    count = DEFAULT_IMAGES[name] if images is None else images
    side = DEFAULT_SIZE[name] if size is None else size
    if not 1 <= count <= MAX_IMAGES:
        raise InputError(f"--images: {count} is out of range", hint=f"use 1..{MAX_IMAGES}")
    if not 16 <= side <= 4096:
        raise InputError(f"size: {side} is out of range", hint="use 16..4096 pixels")
    if dataset_id < 0:
        raise InputError(f"--dataset-id: {dataset_id} is negative", hint="use a number >= 0")
    if dataset_id > MAX_DATASET_ID:
        raise InputError(f"--dataset-id: {dataset_id} is out of range", hint=f"use 0..{MAX_DATASET_ID}")
    root = Path(minio_root)
    for parent in (root, *root.parents):
        if parent.exists():
            if not parent.is_dir():
                raise InputError(f"{parent} exists and is not a folder", hint="pick another DIR")
            break
    target = root / "datasets" / str(dataset_id)
    if target.exists() and not target.is_dir():
        raise InputError(f"{target} exists and is not a folder", hint="pick another DIR or id")
    previous = _check_only_ours(target, force)
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{target}: cannot create the folder: {exc.strerror or exc}",
                         hint="pick a DIR you can write to") from None
    # a previous demo dataset in the same folder (other count) must not leave stale samples;
    # only files a previous demo-data run recorded in its manifest are removed
    for rel in previous:
        if rel.startswith("demo_") and rel.endswith(".png") and "/" not in rel:
            (target / rel).unlink(missing_ok=True)

    rng = np.random.default_rng(seed)
    entries: list[tuple[str, int, list[Shape]]] = []
    width = max(4, len(str(count - 1)))
    for i in range(count):
        img, shapes = make_image(rng, name, side, i)
        file_name = f"demo_{i:0{width}d}.png"
        buf = io.BytesIO()
        img.save(buf, format="PNG", optimize=False)
        _atomic_write(target / file_name, buf.getvalue())
        entries.append((file_name, side, shapes))
    write_annotations(target / ANNOTATIONS, name, f"tc-demo-{name}", entries)
    written = {ANNOTATIONS: made.file_digest(target / ANNOTATIONS)}
    written.update((f, made.file_digest(target / f)) for f, _, _ in entries)
    made.write(target, written, what=f"demo data ({name}, seed {seed})")
    return target


def _previous_run(target: Path) -> set[str]:
    """The files an earlier demo-data run wrote into ``target``: its annotations.xml (task name
    ``tc-demo-*``) and the PNG images that file lists. Empty when there is no such run."""
    ann = target / ANNOTATIONS
    try:
        if ann.is_symlink() or not ann.is_file() or ann.stat().st_size > 64 * 1024 * 1024:
            return set()
        root = ET.parse(ann).getroot()
    except (OSError, ET.ParseError):
        return set()
    if not (root.findtext("meta/task/name") or "").startswith("tc-demo-"):
        return set()
    names = {im.get("name") or "" for im in root.iterfind("image")}
    return {ANNOTATIONS} | {n for n in names if re.fullmatch(r"demo_[0-9]+\.png", n)}


def _check_only_ours(target: Path, force: bool) -> set[str]:
    """The files of a previous demo-data run in ``target``; refuse (InputError) when the folder
    holds anything else (a user's own annotations or images), unless ``force``."""
    if not target.is_dir():
        return set()
    recorded = made.load(target)
    if recorded is not None:  # written by this tc: judged by the content digests it recorded
        other = None if force else made.foreign(target)
        if other is not None:
            raise InputError(
                f"{other}: not written by tc demo-data (or changed since); nothing was written",
                hint="choose an empty DIR or another --dataset-id, or pass --force to overwrite",
            )
        return set(recorded)
    previous = _previous_run(target)
    if force:
        return previous
    for path in sorted(target.rglob("*")):
        if path.is_dir() and not path.is_symlink():
            continue
        rel = path.relative_to(target).as_posix()
        ours = rel in previous and path.is_file() and not path.is_symlink() and (
            rel == ANNOTATIONS or path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n")
        if not ours:
            raise InputError(
                f"{path}: not written by tc demo-data; nothing was written",
                hint="choose an empty DIR or another --dataset-id, or pass --force to overwrite",
            )
    return previous
