"""ImageFolder reader: ``SRC/<class>/**/<image>`` (or ``SRC/<split>/<class>/**/<image>``).

torchvision's rule: the class is the first folder (under the split, if any); nested folders
belong to it. Files directly in the root (or a split folder) are not samples: they are left
out and reported, not fatal. Each image gets a ``<tag>`` of its class; classes are sorted by
name (torchvision's order), the union over splits.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from .fsutil import is_image_name, walk_files
from .imagesize import size_of
from .model import Losses, Record, Shape, Source

SPLITS = {"train", "val", "valid", "validation", "test"}
OUTSIDE = "files outside <class>/ folders or not images (left out)"


def split_layout(root: Path, skip: Path | None = None) -> bool:
    dirs = [d.name for d in root.iterdir()
            if d.is_dir() and not d.name.startswith(".") and d != skip]
    return bool(dirs) and all(d.lower() in SPLITS for d in dirs)


def class_depth(root: Path, skip: Path | None = None) -> int:
    """How many path parts an image in a class folder has at least: 2 (``<class>/x.jpg``),
    3 with split folders (``<split>/<class>/x.jpg``)."""
    return 3 if split_layout(root, skip) else 2


def in_class_folders(images: Iterable[str], depth: int) -> tuple[int, int]:
    """(images inside a class folder, images outside one) among the relative paths."""
    inside = outside = 0
    for rel in images:
        if len(rel.split("/")) >= depth:
            inside += 1
        else:
            outside += 1
    return inside, outside


def read_imagefolder(root: Path, losses: Losses, skip: Path | None = None) -> Source:
    depth = class_depth(root, skip)
    items: list[tuple[str, Path, str, str | None]] = []
    for rel, p in walk_files(root, skip):
        parts = rel.split("/")
        if len(parts) < depth or not is_image_name(rel):
            losses.add(OUTSIDE, rel)
            continue
        subset = parts[0] if depth == 3 else None
        items.append((rel, p, parts[depth - 2], subset))
    labels = sorted({c for _r, _p, c, _s in items})
    index = {n: i for i, n in enumerate(labels)}
    src = Source("imagefolder", root, labels, lambda: iter(()), losses)

    def records() -> Iterator[Record]:
        for rel, p, cls, subset in items:
            w, h = size_of(p, rel)
            yield Record(p, rel, w, h, [Shape("tag", index[cls], None)], subset)

    src.records = records
    return src
