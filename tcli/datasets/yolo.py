"""YOLO txt reader (Ultralytics / darknet layouts).

Class names come from ``data.yaml``/``dataset.yaml`` (``names``), ``classes.txt``,
``obj.names`` or ``*.names`` in SRC, or ``--classes``. Labels pair with images as
``images/<x>/a.jpg`` <-> ``labels/<x>/a.txt``, or side by side. A line is
``class cx cy w h`` (box) or ``class x1 y1 x2 y2 x3 y3 ...`` (polygon), normalised to [0, 1];
pixel coordinates use the image size read from its header.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tcli.errors import InputError

from .fsutil import is_image_name, walk_files
from .imagesize import size_of
from .model import Losses, Record, Shape, Source

CLASS_FILES = ("classes.txt", "obj.names", "classes.names")
YAML_FILES = ("data.yaml", "dataset.yaml", "data.yml", "dataset.yml")


def find_class_names(root: Path, classes: str | None) -> list[str]:
    """Class names from ``--classes`` (comma list or a file) or a class file in SRC."""
    if classes:
        p = Path(classes)
        if p.is_file():
            return _names_file(p)
        names = [c.strip() for c in classes.split(",") if c.strip()]
        if not names:
            raise InputError("--classes: no class names given")
        return names
    for name in YAML_FILES:
        if (root / name).is_file():
            return _names_yaml(root / name)
    for name in CLASS_FILES:
        if (root / name).is_file():
            return _names_file(root / name)
    found = sorted(root.glob("*.names"))
    if found:
        return _names_file(found[0])
    raise InputError(f"{root}: YOLO labels but no class-name file (data.yaml, classes.txt or "
                     "obj.names)", hint="pass the names in order: --classes weed,crop "
                     "(or --classes FILE with one name a line)")


def _names_file(p: Path) -> list[str]:
    names = [ln.strip() for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip()]
    if not names:
        raise InputError(f"{p}: class-name file is empty")
    return names


def _names_yaml(p: Path) -> list[str]:
    import yaml

    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InputError(f"{p}: not valid YAML ({str(exc).splitlines()[0]})") from None
    names: Any = doc.get("names") if isinstance(doc, dict) else None
    if isinstance(names, dict):
        try:
            keys = sorted(int(k) for k in names)
        except (TypeError, ValueError):
            raise InputError(f"{p}: field 'names' keys must be class numbers") from None
        if keys != list(range(len(keys))):
            raise InputError(f"{p}: field 'names' must number classes 0..{len(keys) - 1}")
        return [str(names[k]) for k in keys]
    if isinstance(names, list) and names:
        return [str(n) for n in names]
    raise InputError(f"{p}: field 'names' (the class names) is missing")


def label_path_for(rel: str) -> str:
    """``images/train/a.jpg`` -> ``labels/train/a.txt``; ``a.jpg`` -> ``a.txt``."""
    parts = rel.split("/")
    stem = parts[-1].rsplit(".", 1)[0] + ".txt"
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            return "/".join([*parts[:i], "labels", *parts[i + 1:-1], stem])
    return "/".join([*parts[:-1], stem])


def read_yolo(root: Path, losses: Losses, classes: str | None = None,
              skip: Path | None = None) -> Source:
    names = find_class_names(root, classes)
    files = list(walk_files(root, skip))
    txts = {rel for rel, _p in files if rel.endswith(".txt")}
    images = [(rel, p) for rel, p in files if is_image_name(rel)]
    used: set[str] = set()
    for rel, _p in images:
        lp = label_path_for(rel)
        if lp in txts:
            used.add(lp)
    for t in sorted(txts - used):
        if t.rsplit("/", 1)[-1] not in CLASS_FILES and not t.endswith("README.txt"):
            losses.add("label files without an image (left out)", t)
    src = Source("yolo", root, names, lambda: iter(()), losses)

    def records() -> Iterator[Record]:
        for rel, p in images:
            lp = label_path_for(rel)
            w, h = size_of(p, rel)
            shapes = _parse(root / lp, lp, names, w, h) if lp in txts else []
            yield Record(p, rel, w, h, shapes, _subset(rel))

    src.records = records
    return src


def _subset(rel: str) -> str | None:
    parts = rel.split("/")
    if len(parts) >= 3 and parts[0] == "images":
        return parts[1]
    if len(parts) >= 3 and parts[1] == "images":
        return parts[0]
    return None


def _parse(path: Path, rel: str, names: list[str], w: int, h: int) -> list[Shape]:
    shapes: list[Shape] = []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{rel}: not a text file") from None
    for ln, line in enumerate(text.splitlines(), 1):
        tok = line.split()
        if not tok:
            continue
        where = f"{rel}:{ln}"
        try:
            cls = int(tok[0])
            vals = [float(t) for t in tok[1:]]
        except ValueError:
            raise InputError(f"{where}: expected 'class cx cy w h' (numbers), got {line.strip()!r}"
                             ) from None
        if not 0 <= cls < len(names):
            raise InputError(f"{where}: class {cls} is not in the {len(names)} class names")
        n = len(vals)
        if n != 4 and (n < 6 or n % 2):
            raise InputError(f"{where}: {n + 1} numbers; expected 5 (class cx cy w h) or "
                             "class + 3 or more x y pairs (polygon)")
        bad = next((v for v in vals if not 0.0 <= v <= 1.0), None)
        if bad is not None:
            raise InputError(f"{where}: coordinate {bad} is outside [0, 1] (YOLO coordinates "
                             "are normalised by the image size)")
        if n == 4:
            cx, cy, bw, bh = vals
            shapes.append(Shape("box", cls, ((cx - bw / 2) * w, (cy - bh / 2) * h,
                                             (cx + bw / 2) * w, (cy + bh / 2) * h)))
        else:
            shapes.append(Shape("polygon", cls, [v * (w if i % 2 == 0 else h)
                                                 for i, v in enumerate(vals)]))
    return shapes
