"""``tc dataset import``: any supported format -> the platform's layout ``DEST/datasets/<N>/``.

Everything is built in ``DEST/datasets/.tc-import-<N>`` and renamed into place at the end, so
a failure leaves no half dataset; ``--force`` moves an existing ``<N>`` aside and deletes it
only when it holds nothing but what a previous import wrote (else it is kept, and said so).
Nothing is written outside DEST. :func:`ensure_platform_layout` is the cached variant for
``tc dev-run --dataset``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tcli.contract import ANNOTATIONS_XML
from tcli.errors import InputError
from tcli.safety import atomic, confine
from tcli.safety.confine import is_inside
from tcli.safety.digest import sha256_file

from . import FORMATS
from .cvat_writer import CvatWriter
from .fsutil import Linker, Namer
from .model import Losses, Source

MAPPING = "mapping.json"
REPORT = "import-report.json"


@dataclass
class ImportResult:
    format: str
    detected: str | None  # why auto-detection chose the format, None when --format was given
    target: Path
    dataset_id: int
    images: int
    shapes: int
    labels: list[str]
    linked: int
    copied: int
    renamed: int
    losses: dict[str, Any]
    unreferenced: int
    unreferenced_examples: list[str] = field(default_factory=list)
    kept_old: Path | None = None
    #: images per source subset (None: without one)
    subsets: dict[str | None, int] = field(default_factory=dict)


def open_source(src: Path, fmt: str = "auto", classes: str | None = None,
                skip: Path | None = None) -> tuple[Source, str | None]:
    """Read ``src`` in ``fmt`` (``auto``: detect). Returns the source and the detection reason."""
    from .detect import detect

    if fmt not in ("auto", *FORMATS):
        raise InputError(f"--format: unknown format {fmt!r}", hint="use auto, " +
                         ", ".join(FORMATS))
    losses = Losses()
    src = confine.resolve(src if src.is_absolute() else Path.cwd() / src, "SRC")
    root = src.parent if src.is_file() else src
    if src.is_file() and root.name.lower() == "annotations":
        root = root.parent  # annotations/instances_train2017.json: the dataset is one up
    reason: str | None = None
    if fmt == "auto":
        fmt, reason = detect(src, skip)
    if fmt == "coco":
        from .coco import looks_like_coco, read_coco
        from .coco_layout import choose_files

        if src.is_file():
            files = [src]
        else:
            files = sorted(p for p in root.rglob("*.json")
                           if not any(x.startswith(".") for x in p.relative_to(root).parts)
                           and (skip is None or not p.is_relative_to(skip)))
            coco = [p for p in files if looks_like_coco(p)]
            if not coco:
                raise InputError(f"{src}: no COCO .json file found (looked for *.json with "
                                 f"'images'/'annotations'/'categories'; found {len(files)} "
                                 ".json files)")
            files = choose_files(root, coco, losses)
        if not files:
            raise InputError(f"{src}: no COCO instances .json file to import (only captions)")
        return read_coco(root, files, losses, skip), reason
    if not root.is_dir():
        raise InputError(f"{src}: not a folder")
    if fmt == "yolo":
        from .yolo import read_yolo

        return read_yolo(root, losses, classes, skip), reason
    if fmt == "voc":
        from .voc import is_voc_xml, read_voc

        xmls = sorted(p for p in root.rglob("*.xml") if is_voc_xml(p)
                      and (skip is None or not p.is_relative_to(skip)))
        if not xmls:
            raise InputError(f"{src}: no Pascal VOC .xml files (<annotation> root) found")
        return read_voc(root, xmls, losses, skip), reason
    if fmt == "imagefolder":
        from .imagefolder import read_imagefolder

        return read_imagefolder(root, losses, skip), reason
    from .cvat import read_cvat

    return read_cvat(root, losses, skip=skip), reason


def _non_empty(d: Path) -> bool:
    return d.is_dir() and any(d.iterdir())


def next_free_id(dest: Path) -> int:
    n = 1
    while _non_empty(dest / "datasets" / str(n)):
        n += 1
    return n


def import_dataset(src: Path, dest: Path, fmt: str = "auto", dataset_id: int | None = None,
                   force: bool = False, classes: str | None = None,
                   progress: Callable[[int], None] | None = None, decode: bool = False
                   ) -> ImportResult:
    """Import ``src`` into ``dest/datasets/<id>/``. Raises InputError for bad input.

    ``decode``: decode every image first; a corrupt one is an InputError, a size that differs
    from the annotations is corrected to the file's and reported.
    """
    if not src.exists() and not src.is_symlink():
        raise InputError(f"{src}: SRC does not exist")
    src_r = confine.resolve(src, "SRC")
    dest_r = confine.resolve(dest, "DEST", missing_ok=True)
    if src_r == dest_r:
        raise InputError(f"SRC and DEST are the same folder ({src_r}); give DEST a new folder "
                         "(it will hold datasets/<N>/)")
    if dest_r.exists() and not dest_r.is_dir():
        raise InputError(f"DEST {dest}: exists and is not a folder")
    if dataset_id is not None and dataset_id < 1:
        raise InputError(f"--id {dataset_id}: must be a positive integer")
    n = dataset_id if dataset_id is not None else next_free_id(dest_r)
    target = dest_r / "datasets" / str(n)
    if is_inside(src_r, target):
        raise InputError(f"SRC {src_r} is inside the target {target}; choose another DEST or --id")
    if _non_empty(target) and not force:
        raise InputError(f"{target}: exists and is not empty; pass --force to replace it "
                         "(the old folder is set aside, your files are never deleted)")
    source, reason = open_source(src_r, fmt, classes, skip=dest_r)
    staging = dest_r / "datasets" / f".tc-import-{n}"
    if staging.exists():
        _remove_ours(staging)
    made = [d for d in (dest_r, dest_r / "datasets") if not d.exists()]
    try:  # DEST under a file, in /proc, read-only: one exit-2 line naming it
        staging.mkdir(parents=True)
    except OSError as exc:
        raise atomic.os_error(dest_r, exc, "cannot create the dataset folder") from None
    try:
        res = _write(source, staging, progress, decode)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        for d in reversed(made):  # the folders this import made, when still empty
            try:
                d.rmdir()
            except OSError:
                break
        raise
    kept = None
    if target.is_dir() and not target.is_symlink() and not any(target.iterdir()):
        target.rmdir()  # an empty folder: nothing to keep
    if target.exists() or target.is_symlink():
        aside = dest_r / "datasets" / f".{n}.replaced"
        k = 1
        while aside.exists():
            k += 1
            aside = dest_r / "datasets" / f".{n}.replaced-{k}"
        atomic.replace(target, aside)
        if _only_ours(aside):
            shutil.rmtree(aside)
        else:
            kept = aside
    atomic.replace(staging, target)
    images, shapes, linker, namer, subsets = res
    unref = source.unreferenced
    return ImportResult(source.format, reason, target, n, images, shapes, list(source.labels),
                        linker.linked, linker.copied, namer.renamed, source.losses.as_dict(),
                        len(unref), unref[:3], kept, dict(subsets))


def _write(source: Source, out: Path, progress: Callable[[int], None] | None,
           decode: bool = False) -> tuple[int, int, Linker, Namer, Counter[str | None]]:
    from .imagesize import decode_check

    source.prerender = True
    ann = out / "annotations"
    ann.mkdir()
    writer = CvatWriter(ann / ANNOTATIONS_XML, task_name=source.root.name or "imported")
    namer, linker = Namer(), Linker()
    mapping: list[str] = []
    subsets: Counter[str | None] = Counter()
    images = 0
    dump = json.dumps
    out_s = str(out)
    join = os.path.join
    # links/copies run in a thread while this one reads and writes XML (os.link and file
    # copies release the GIL, so the two overlap on two cores)
    from concurrent.futures import Future, ThreadPoolExecutor

    pool = ThreadPoolExecutor(1)
    futures: list[Future[None]] = []
    batch: list[tuple[str | Path, str]] = []

    def place_all(jobs: list[tuple[str | Path, str]]) -> None:
        for a, b in jobs:
            linker.place(a, b)

    try:
        for rec in source.records():
            if rec.missing:
                continue  # counted by the reader as annotated-but-missing
            if decode:
                got = decode_check(rec.path)
                if isinstance(got, str):
                    raise InputError(f"{rec.path}: corrupt image ({got})",
                                     hint="re-export or remove the file, then import again")
                if got != (rec.width, rec.height):
                    source.losses.add("image sizes that differ from the annotations "
                                      "(file's size used)", rec.rel)
                    rec.width, rec.height = got
                    if rec.raw_xml is not None:
                        rec.raw_xml.set("width", str(got[0]))
                        rec.raw_xml.set("height", str(got[1]))
            name = namer.name(rec.rel)
            batch.append((rec.path, join(out_s, name)))
            if len(batch) >= 256:
                futures.append(pool.submit(place_all, batch))
                batch = []
            writer.image(rec, name, source.labels)
            subsets[rec.subset or None] += 1
            mapping.append(f"{dump(name)}: {dump(rec.rel)}")
            images += 1
            if progress is not None and not images % 1000:
                progress(images)
        futures.append(pool.submit(place_all, batch))
        writer.close(source.labels, source.label_attrs,
                     source.raw_meta if source.format == "cvat" else None)
        for f in futures:
            f.result()  # re-raises an OSError of a link or copy
    except BaseException:
        for f in futures:
            f.cancel()
        pool.shutdown(wait=True)
        writer.abort()
        raise
    pool.shutdown(wait=True)
    if images == 0:
        raise InputError(f"{source.root}: no images found to import (format {source.format}"
                         f"{_why(source)})")
    if writer.shapes == 0 and source.annotated:
        raise InputError(f"{source.root}: nothing usable to import: none of the "
                         f"{source.annotated} annotations in the source could be carried"
                         f"{_why(source)}",
                         hint="check the layout against docs/datasets.md, or pass --format")
    report = {"format": source.format, "images": images, "shapes": writer.shapes,
              "labels": source.labels, "renamed": namer.renamed,
              "subsets": dict(sorted(subsets.items(), key=lambda kv: str(kv[0]))),
              "not_carried": source.losses.as_dict(),
              "unreferenced_files": {"count": len(source.unreferenced),
                                     "examples": source.unreferenced[:3]}}
    report_text = dump(report, indent=2) + "\n"
    (ann / REPORT).write_text(report_text, encoding="utf-8")
    head = {"version": 1, "tool": "tc dataset import", "format": source.format,
            "source": str(source.root),
            "digests": {ANNOTATIONS_XML: _sha256(ann / ANNOTATIONS_XML),
                        REPORT: hashlib.sha256(report_text.encode()).hexdigest()}}
    (ann / MAPPING).write_text(dump(head, indent=2)[:-2] + ',\n  "files": {\n    ' +
                               ",\n    ".join(mapping) + "\n  }\n}\n", encoding="utf-8")
    return images, writer.shapes, linker, namer, subsets


def _why(source: Source) -> str:
    """The reasons the reader gave for what it left out (the first two), for a message."""
    top = sorted(source.losses.counts.items(), key=lambda kv: -kv[1])[:2]
    if not top:
        return ""
    return "; " + "; ".join(f"{n} {what}" + (f" (e.g. {source.losses.examples[what][0]})"
                                              if source.losses.examples.get(what) else "")
                            for what, n in top)


def _sha256(path: Path) -> str:
    return sha256_file(path) or ""  # "" matches no recorded digest: not ours


def _only_ours(folder: Path) -> bool:
    """True when ``folder`` holds exactly what a tc import wrote, judged by content: its
    annotation files match the digests recorded in the mapping file, and every sample is
    still the source file it was made from (the same hard link, or the same bytes). A
    hand-edited annotations.xml, a replaced or edited image, or any extra file: False."""
    mp = folder / "annotations" / MAPPING
    try:
        doc = json.loads(mp.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(doc, dict) or doc.get("tool") != "tc dataset import":
        return False
    digests, files = doc.get("digests"), doc.get("files")
    if not isinstance(digests, dict) or not isinstance(files, dict) or not isinstance(
            doc.get("source"), str):
        return False  # an older import (names only): keep it
    source = Path(doc["source"])
    for p in folder.iterdir():
        if p.is_symlink():
            return False
        if p.name == "annotations" and p.is_dir():
            for q in p.iterdir():
                if q.name == MAPPING and q.is_file() and not q.is_symlink():
                    continue
                want = digests.get(q.name)
                if not isinstance(want, str) or q.is_symlink() or not q.is_file() \
                        or _sha256(q) != want:
                    return False
        elif p.name not in files or not p.is_file() or not isinstance(files[p.name], str) \
                or not _same_as_source(p, source / files[p.name]):
            return False
    return True


def _same_as_source(sample: Path, orig: Path) -> bool:
    try:
        a, b = sample.stat(), orig.stat()
    except OSError:
        return False
    if (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino):
        return True  # the hard link tc made: its bytes live on in SRC
    return a.st_size == b.st_size and _sha256(sample) == _sha256(orig)


def _remove_ours(staging: Path) -> None:
    """A staging folder left by an interrupted import: it is tc's own, remove it."""
    shutil.rmtree(staging)


def source_digest(src: Path) -> str:
    """Content key of a source folder: every file's path, size and mtime, plus the bytes of
    every non-image file (annotations, class lists): a changed label re-imports."""
    from .fsutil import is_image_name, walk_files

    h = hashlib.sha256(b"tc-dataset-import-1\0")
    root = src.parent if src.is_file() else src
    for rel, p in walk_files(root):
        st = p.stat()
        h.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
        if not is_image_name(rel) and st.st_size < 512 << 20:
            h.update(p.read_bytes())
    return h.hexdigest()[:20]


def ensure_platform_layout(src: Path, cache_root: Path, fmt: str = "auto",
                           classes: str | None = None) -> Path:
    """The dataset folder (``<minio>/datasets/<id>``) to train on for ``src`` in any format.

    A folder already in the platform layout (``annotations/annotations.xml`` beside flat
    samples) is returned as it is. Anything else is imported once into
    ``cache_root/<content key>/datasets/1`` and reused while the source is unchanged: the
    MinIO root is ``result.parents[1]``, the dataset id ``result.name``.
    """
    src = confine.resolve(src, "--dataset")
    if (src / "annotations" / ANNOTATIONS_XML).is_file() and any(
            p.is_file() and not p.name.startswith(".") for p in src.iterdir()):
        return src
    key = source_digest(src)
    minio = cache_root / key
    target = minio / "datasets" / "1"
    if (target / "annotations" / ANNOTATIONS_XML).is_file():
        return target
    import_dataset(src, minio, fmt, 1, force=True, classes=classes)
    return target
