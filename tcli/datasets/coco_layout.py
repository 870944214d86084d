"""Where a COCO source's files are: which JSON files to import (prefixes, one file per
subset; captions and panoptic ignored beside them and reported, panoptic alone refused), the
split each stands for, the folder its ``file_name`` entries are relative to, and Roboflow's
placeholder super-category."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NoReturn

from tcli.errors import InputError

from .model import Losses, Source

#: file-name prefixes COCO's own files use (``instances_train2017.json``), by what they hold
PREFIXES = ("instances_", "person_keypoints_", "stuff_", "image_info_", "captions_",
            "panoptic_", "annotations_", "labels_")
#: stems that name no subset: the subset is then the folder's name (Roboflow: train/...)
GENERIC = {"instances", "annotations", "_annotations.coco", "_annotations", "labels", "coco",
           "default", "person_keypoints", "stuff", "image_info"}
#: which file wins when several describe the same subset's images
PRIORITY = ("instances_", "stuff_", "person_keypoints_", "image_info_", "")


def kind_of(path: Path) -> str:
    """The prefix of a COCO file's name (``instances_`` ...), or ``""``."""
    return next((p for p in PREFIXES if path.stem.startswith(p)), "")


def _subset(path: Path, root: Path) -> str | None:
    """The source's split of a COCO file: its name after the prefix (``instances_val2017``
    -> ``val2017``), else its folder's name (``valid/_annotations.coco.json`` -> ``valid``).
    CVAT's ``default`` means no subset."""
    stem = path.stem
    pre = kind_of(path)
    if pre:
        stem = stem[len(pre):]
    if stem and stem.lower() not in GENERIC:
        return stem
    parent = path.parent
    if parent != root and parent.is_relative_to(root) and parent.name.lower() not in (
            "annotations", "default", "images", "labels"):
        return parent.name
    return None


def choose_files(root: Path, files: list[Path], losses: Losses) -> list[Path]:
    """The COCO files to import from a folder: captions and panoptic ignored (with a note)
    beside files that can be imported, panoptic refused when it is all there is; one file
    per subset (instances before stuff, keypoints, image_info)."""
    chosen: dict[str | None, Path] = {}
    panoptic = [p for p in files if kind_of(p) == "panoptic_"]
    if panoptic and all(kind_of(p) in ("panoptic_", "captions_") for p in files):
        _panoptic(panoptic[0])
    for path in sorted(files, key=lambda p: (PRIORITY.index(kind_of(p))
                                             if kind_of(p) in PRIORITY else 9, str(p))):
        k = kind_of(path)
        rel = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name
        if k == "panoptic_":
            losses.add("COCO panoptic files (ignored: panoptic is not supported; its PNG "
                       "segment maps are not carried)", rel)
            continue
        if k == "captions_":
            losses.add("COCO captions files (ignored: captions are not annotations CVAT "
                       "trains on)", rel)
            continue
        sub = _subset(path, root)
        if sub in chosen:
            first = chosen[sub].relative_to(root).as_posix()
            losses.add("COCO files for a subset already imported (ignored; import one on "
                       "its own to get its annotations)", f"{rel} (same images as {first})")
            continue
        chosen[sub] = path
    return list(chosen.values())


def _panoptic(path: Path) -> NoReturn:
    raise InputError(f"{path}: panoptic is not supported (COCO panoptic: PNG segment maps)",
                     hint="import the instances_*.json of the same images instead")


def _image_base(root: Path, path: Path, images: list[dict[str, Any]], subset: str | None
                ) -> tuple[Path | None, list[str]]:
    """The folder the ``file_name`` entries are relative to (decided on the first images),
    or None; and the folders looked in (relative to ``root``, for the message)."""
    jd = path.parent
    cands = [jd, root, root / "images", jd / "images", jd.parent / "images", jd.parent]
    if subset:
        cands += [root / subset, root / "images" / subset, jd.parent / subset,
                  jd.parent / "images" / subset, root / subset / "images"]
    probe = [str(im.get("file_name", "")) for im in images[:20] if isinstance(im, dict)]
    looked: list[str] = []
    for c in cands:
        if not c.is_relative_to(root):
            continue
        rel = c.relative_to(root).as_posix()
        shown = "SRC" if rel == "." else rel + "/"
        if shown not in looked:
            looked.append(shown)
        if any(n and (c / n).is_file() for n in probe):
            return c, looked
    return None, looked


def _drop_placeholders(src: Source, stores: list[Any], cands: dict[int, str]) -> None:
    """Roboflow's placeholder super-category (the parent of the others, no annotation of
    its own) is not a class: drop it and renumber the labels."""
    import numpy as np

    used = np.zeros(len(src.labels), dtype=bool)
    for st in stores:
        if len(st.cat):
            used[np.frombuffer(st.cat, dtype=np.int32)] = True
        for shapes in st.other.values():
            for sh in shapes:
                used[sh.label] = True
    drop = {i for i in cands if not used[i]}
    if not drop:
        return
    remap = np.full(len(src.labels), -1, dtype=np.int32)
    keep = [i for i in range(len(src.labels)) if i not in drop]
    remap[keep] = np.arange(len(keep), dtype=np.int32)
    for st in stores:
        if len(st.cat):
            view = np.frombuffer(st.cat, dtype=np.int32)
            view[:] = remap[view]
        for shapes in st.other.values():
            for sh in shapes:
                sh.label = int(remap[sh.label])
    src.label_attrs = {int(remap[k]): v for k, v in src.label_attrs.items() if k not in drop}
    for i in sorted(drop):
        src.losses.add("placeholder super-categories (no annotations; only the parent of "
                       "other categories): not a class", cands[i])
    src.labels[:] = [src.labels[i] for i in keep]
