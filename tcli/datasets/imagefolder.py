"""ImageFolder reader: ``SRC/<class>/<image>`` (or ``SRC/<split>/<class>/<image>``).

Each image gets a ``<tag>`` of its class; classes are sorted by name (torchvision's order),
the union over splits.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from .fsutil import is_image_name, walk_files
from .imagesize import size_of
from .model import Losses, Record, Shape, Source

SPLITS = {"train", "val", "valid", "validation", "test"}


def split_layout(root: Path, skip: Path | None = None) -> bool:
    dirs = [d.name for d in root.iterdir()
            if d.is_dir() and not d.name.startswith(".") and d != skip]
    return bool(dirs) and all(d.lower() in SPLITS for d in dirs)


def read_imagefolder(root: Path, losses: Losses, skip: Path | None = None) -> Source:
    depth = 3 if split_layout(root, skip) else 2
    items: list[tuple[str, Path, str, str | None]] = []
    for rel, p in walk_files(root, skip):
        parts = rel.split("/")
        if len(parts) != depth or not is_image_name(rel):
            losses.add("files outside <class>/ folders or not images (left out)", rel)
            continue
        subset = parts[0] if depth == 3 else None
        items.append((rel, p, parts[-2], subset))
    labels = sorted({c for _r, _p, c, _s in items})
    index = {n: i for i, n in enumerate(labels)}
    src = Source("imagefolder", root, labels, lambda: iter(()), losses)

    def records() -> Iterator[Record]:
        for rel, p, cls, subset in items:
            w, h = size_of(p, rel)
            yield Record(p, rel, w, h, [Shape("tag", index[cls], None)], subset)

    src.records = records
    return src
