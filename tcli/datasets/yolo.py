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

CLASS_FILES = ("classes.txt", "obj.names", "classes.names", "_darknet.labels")
YAML_FILES = ("data.yaml", "dataset.yaml", "data.yml", "dataset.yml")
#: a data.yaml is a few lines: anything larger is not one
YAML_MAX_BYTES = 1 << 20
#: a label file is a few lines: anything larger is refused
LABEL_MAX_BYTES = 64 << 20
#: folder names that hold the labels beside ``images/`` (Ultralytics, datumaro, others)
LABEL_DIRS = ("labels", "Labels", "annotations", "Annotations")


def find_class_file(root: Path, files: list[str]) -> str | None:
    """The class-name file of a source (relative path): data.yaml, classes.txt, obj.names,
    obj.data's ``names``, Roboflow's ``_darknet.labels``, ``*.names``; at the top first."""
    top = set(files)
    for name in (*YAML_FILES, *CLASS_FILES):
        if name in top:
            return name
    if "obj.data" in top:
        names = _obj_data_names(root)
        if names is not None:
            return names
    deeper = [r for r in files if r.rsplit("/", 1)[-1] in CLASS_FILES
              or r.rsplit("/", 1)[-1] in YAML_FILES]
    if deeper:
        return sorted(deeper, key=lambda r: (r.count("/"), r))[0]
    names_files = sorted(r for r in files if r.endswith(".names"))
    return names_files[0] if names_files else None


def _obj_data_names(root: Path) -> str | None:
    """Darknet's ``obj.data``: ``names = data/obj.names`` (relative to the darknet folder)."""
    from tcli.safety.limits import read_text

    for line in read_text(root / "obj.data", max_bytes=YAML_MAX_BYTES).splitlines():
        k, _, v = line.partition("=")
        if k.strip() == "names" and v.strip():
            rel = v.strip().replace("\\", "/")
            for cand in (rel, rel.split("/", 1)[-1], rel.rsplit("/", 1)[-1]):
                if cand and ".." not in cand.split("/") and (root / cand).is_file():
                    return cand
    return None


def find_class_names(root: Path, classes: str | None, files: list[str] | None = None
                     ) -> tuple[list[str], str]:
    """Class names from ``--classes`` (comma list or a file) or a class file in SRC, and where
    they came from."""
    if classes:
        p = Path(classes)
        if p.is_file():
            return _names_file(p), str(p)
        names = [c.strip() for c in classes.split(",") if c.strip()]
        if not names:
            raise InputError("--classes: no class names given")
        return names, "--classes"
    from .fsutil import walk_rels

    rel = find_class_file(root, files if files is not None else list(walk_rels(root)))
    if rel is not None:
        p = root / rel
        if rel.rsplit("/", 1)[-1] in YAML_FILES:
            return _names_yaml(p), rel
        return _names_file(p), rel
    raise InputError(f"{root}: YOLO labels but no class-name file (looked for data.yaml, "
                     "dataset.yaml, classes.txt, obj.names, obj.data, _darknet.labels, *.names)",
                     hint="pass the names in order: --classes weed,crop "
                     "(or --classes FILE with one name a line)")


def _names_file(p: Path) -> list[str]:
    from tcli.safety.limits import read_text

    names = [ln.strip() for ln in read_text(p).splitlines() if ln.strip()]
    if not names:
        raise InputError(f"{p}: class-name file is empty")
    return names


def load_yaml(p: Path) -> Any:
    """A data.yaml, bounded: at most 1 MiB, and no anchors/aliases (an alias bomb expands a
    few lines into gigabytes; no data.yaml needs them)."""
    import yaml

    from tcli.safety.limits import read_text

    text = read_text(p, max_bytes=YAML_MAX_BYTES)
    try:
        for ev in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(ev, yaml.AliasEvent) or getattr(ev, "anchor", None):
                raise InputError(f"{p}: uses YAML anchors/aliases (&/*); refused (a data.yaml "
                                 "needs none)", hint="write the values out")
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError(f"{p}: not valid YAML ({str(exc).splitlines()[0]})") from None


def _names_yaml(p: Path) -> list[str]:
    doc = load_yaml(p)
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


def label_candidates(rel: str) -> list[str]:
    """Where an image's label file may be: ``images/train/a.jpg`` -> ``labels/train/a.txt``
    (or ``Annotations/``...), else beside it: ``a.jpg`` -> ``a.txt``."""
    parts = rel.split("/")
    stem = parts[-1].rsplit(".", 1)[0] + ".txt"
    out = []
    for i in range(len(parts) - 2, -1, -1):
        if parts[i].lower() == "images":
            for d in LABEL_DIRS:
                out.append("/".join([*parts[:i], d, *parts[i + 1:-1], stem]))
    out.append("/".join([*parts[:-1], stem]))
    return out


def label_path_for(rel: str) -> str:
    """The first candidate (``images/train/a.jpg`` -> ``labels/train/a.txt``)."""
    return label_candidates(rel)[0]


def pair_labels(images: list[str], txts: set[str]) -> dict[str, str]:
    """image -> its label file, for the images that have one."""
    out = {}
    for rel in images:
        for cand in label_candidates(rel):
            if cand in txts:
                out[rel] = cand
                break
    return out


def _yaml_subsets(root: Path, yaml_rel: str | None) -> list[tuple[str, str]]:
    """(folder prefix relative to SRC, subset) from data.yaml's ``train``/``val``/``test``
    (folders; ``../train/images`` as Roboflow writes it is taken relative to SRC)."""
    import posixpath

    if yaml_rel is None or yaml_rel.rsplit("/", 1)[-1] not in YAML_FILES:
        return []
    doc = load_yaml(root / yaml_rel)
    if not isinstance(doc, dict):
        return []
    ydir = posixpath.dirname(yaml_rel)
    base = doc.get("path") if isinstance(doc.get("path"), str) else ""
    out = []
    for key in ("train", "val", "test"):
        v = doc.get(key)
        for entry in (v if isinstance(v, list) else [v]):
            if not isinstance(entry, str) or not entry.strip():
                continue
            for cand in (posixpath.join(ydir, base or "", entry), posixpath.join(ydir, entry)):
                norm = posixpath.normpath(cand)
                while norm.startswith("../"):
                    norm = norm[3:]
                if norm.startswith("/") or norm == "..":
                    continue
                if (root / norm).is_dir():
                    out.append(("" if norm == "." else norm + "/", key))
                    break
    return out


def read_yolo(root: Path, losses: Losses, classes: str | None = None,
              skip: Path | None = None) -> Source:
    files = list(walk_files(root, skip))
    rels = [rel for rel, _p in files]
    names, names_from = find_class_names(root, classes, rels)
    txts = {rel for rel in rels if rel.endswith(".txt")}
    images = [(rel, p) for rel, p in files if is_image_name(rel)]
    pairs = pair_labels([r for r, _p in images], txts)
    used = set(pairs.values())
    lists = {"train.txt", "val.txt", "valid.txt", "test.txt", "README.txt", "README.roboflow.txt"}
    for t in sorted(txts - used):
        if t != names_from and t.rsplit("/", 1)[-1] not in CLASS_FILES and \
                t.rsplit("/", 1)[-1] not in lists:
            losses.add("label files without an image (left out)", t)
    src_annotated = len([t for t in txts if t != names_from and t.rsplit("/", 1)[-1]
                         not in CLASS_FILES and t.rsplit("/", 1)[-1] not in lists])
    by_yaml = _yaml_subsets(root, names_from if classes is None else None)
    src = Source("yolo", root, names, lambda: iter(()), losses)
    src.note = f"class names from {names_from}"
    src.annotated = src_annotated

    def records() -> Iterator[Record]:
        for rel, p in images:
            lp = pairs.get(rel)
            w, h = size_of(p, rel)
            shapes = _parse(root / lp, lp, names, w, h) if lp is not None else []
            sub = next((s for pre, s in by_yaml if rel.startswith(pre)), None) if by_yaml \
                else None
            yield Record(p, rel, w, h, shapes, sub or _subset(rel))

    src.records = records
    return src


SPLITS = frozenset({"train", "val", "valid", "validation", "test"})


def _subset(rel: str) -> str | None:
    """``images/<x>/..``, ``<x>/images/..``, darknet's ``obj_<x>_data/``, or a split-named
    folder (Roboflow: ``train/a.jpg``)."""
    parts = rel.split("/")
    if len(parts) >= 3 and parts[0].lower() == "images":
        return parts[1]
    if len(parts) >= 3 and parts[1].lower() == "images":
        return parts[0]
    for d in parts[:-1]:
        if d.startswith("obj_") and d.endswith("_data") and len(d) > 9:
            return d[4:-5]
        if d.lower() in SPLITS:
            return d
    return None


def _parse(path: Path, rel: str, names: list[str], w: int, h: int) -> list[Shape]:
    shapes: list[Shape] = []
    from tcli.safety.limits import read_bytes

    try:  # a regular file of at most 64 MiB (a label file is a few lines)
        text = read_bytes(path, max_bytes=LABEL_MAX_BYTES, what=rel).decode("utf-8")
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
