# Managed by tc (`tc update` brings its new versions) — edit train.py instead.
"""Dataset stage of a train container: samples + CVAT annotations -> split dataset on disk.

``prepare(task=...)`` reads ``$MINIO_ROOT/datasets/$DATASET_ID/`` (samples = the regular,
non-hidden files directly in it; ``annotations/annotations.xml`` in CVAT for images 1.1),
matches samples to ``<image>`` entries by file name (one dict lookup each), splits them
(stratified, fixed seed) and writes under ``$DATASETS_ROOT``::

    images/.src -> $MINIO_ROOT/datasets/<id>       one link to the dataset folder
    images/{train,val[,test]}/<file> -> ../.src/<file>   short relative links through it
    labels/{train,val[,test]}/labels.json     COCO
    labels/<split>/<stem>.txt + data.yaml     YOLO (format "yolo")
    imagefolder/<split>/<class>/<file>        ImageFolder (format "imagefolder"), through
                                               imagefolder/.src like images/
    split_manifest.json                        every sample and its split

Every output is built in ``$DATASETS_ROOT/.tc-staging`` and renamed into place, so a rerun
(``docker start``, maybe with another DATASET_ID) succeeds and leaves nothing stale; the
previous version is renamed into ``.tc-trash/`` and deleted there, by a detached process for
large datasets (off the critical path; a crash leaves only trash, never a half-deleted
output). The exact layout is documented in docs/runtime.md. Plain module: ``main(argv) -> int``.

Speed (see docs/performance.md): no scikit-learn or numpy on the import path (the stratified
split is our own, dataset_split.py); the symlinks are made by a small worker process, started
before the parse and fed after the split, while this process writes the label files.

The stage is split by concern, each module flat beside this one (as in the image):
dataset_base (error, context, paths, samples), dataset_split, dataset_coco (labels.json),
dataset_labels (YOLO, manifest, the writing of all label files), dataset_files (links, swap)
with its two helper programs dataset_link_worker.py and dataset_trash_worker.py. This module
runs the stage and keeps the names setup.py and the tests use.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
if not (_HERE / "cvat_dataset.py").is_file():  # pragma: no cover - the repo's layout
    sys.path.insert(0, str(_HERE.parent / "datasets"))

import cvat_dataset as cvat  # noqa: E402
from dataset_base import (  # noqa: E402
    WORKER_MIN,
    DatasetError,
    Sample,
    StageContext,
    check_dataset_id,
    dataset_dir,
    datasets_root,
    env_int,
    list_samples,
    match_samples,
)
from dataset_files import Linker, LinkJobs, fresh_staging, swap_in, wait_for_cleanup  # noqa: E402
from dataset_labels import class_folder, write_labels  # noqa: E402
from dataset_split import SPLIT_MODES, split_samples, stratified_split, subset_split  # noqa: E402

__all__ = ["DatasetError", "main", "prepare", "split_samples", "stratified_split",
           "subset_split", "wait_for_cleanup", "write_report_split"]

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
#: the directory link inside images/ and imagefolder/ that the per-file links go through:
#: their targets stay short (ext4 keeps a target under 60 bytes in the inode, a longer one
#: costs a data block per link) whatever MINIO_ROOT and the dataset id are
SRC_LINK = ".src"
NONE_LABEL = "<none>"


def prepare(task: str, config: dict[str, Any] | None = None, *,
            dataset_id: str | None = None, minio: Path | None = None,
            datasets: Path | None = None, formats: Sequence[str] | None = None,
            seed: int | None = None, log: Callable[[str], None] | None = None
            ) -> dict[str, Any]:
    """Run the dataset stage. Returns a summary dict (also written as split_manifest.json
    without the samples list). Raises DatasetError (or cvat.CvatError) for user errors."""
    t0 = time.perf_counter()
    if task not in TASKS:
        raise DatasetError(f"task {task!r} is not one of {', '.join(TASKS)}")
    cfg = config or {}
    ds_id = check_dataset_id(dataset_id if dataset_id is not None
                             else os.environ.get("DATASET_ID"))
    ctx = StageContext(
        task=task, dataset_id=ds_id, src=dataset_dir(ds_id, minio),
        out_root=datasets or datasets_root(), formats=_formats(task, formats),
        seed=int(os.environ.get("SPLIT_SEED") or 42) if seed is None else seed,
        train=float(cfg.get("train-split", 0.8)), test=float(cfg.get("test-split", 0.2)),
        say=log or (lambda m: print(f"[setup] {m}", flush=True)), t0=t0,
        split=str(cfg.get("split") or "random"))
    if ctx.split not in SPLIT_MODES:
        raise DatasetError(f"split: {ctx.split!r} is not one of {', '.join(SPLIT_MODES)}")
    names = list_samples(ctx.src)
    if not names:
        raise DatasetError(f"{ctx.src}: no samples (regular non-hidden files) in the dataset "
                           "folder")
    xml = ctx.src / "annotations" / "annotations.xml"
    if not xml.is_file():
        raise DatasetError(f"{xml}: missing; upload the CVAT for images 1.1 export with the "
                           "dataset")
    ctx.lap("list", t0)
    linker = Linker.start(len(names))
    try:
        return _run(ctx, xml, names, linker)
    finally:
        linker.close()


def _run(ctx: StageContext, xml: Path, names: list[str], linker: Linker) -> dict[str, Any]:
    t = time.perf_counter()
    try:
        ann = cvat.parse_cvat(xml, KEEP[ctx.task])
    except cvat.CvatError as exc:
        raise DatasetError(str(exc)) from None
    t = ctx.lap("parse", t)
    ctx.warn.update(ann.warnings)
    samples = match_samples(ctx, ann, names)
    labels = ann.labels
    keys = [labels[s.primary] if s.primary >= 0 else NONE_LABEL for s in samples]
    t = ctx.lap("match", t)
    if ctx.split == "subset":
        assign, n_rest, stratified, reason = subset_split(
            [s.image.subset if s.image else None for s in samples], keys, ctx.train,
            ctx.test, ctx.seed)
        ctx.say(f"split: subset: {len(samples) - n_rest} samples by their subset"
                + (f", {n_rest} without a train/validation/test subset split at random "
                   f"({ctx.train:g}/{ctx.test:g})" if n_rest else ""))
        if n_rest:
            ctx.warn["samples without a train/validation/test subset (split at random)"] += \
                n_rest
    else:
        assign, stratified, reason = split_samples(keys, ctx.train, ctx.test, ctx.seed)
        n_rest = len(samples)
    t = ctx.lap("split", t)
    if not stratified and n_rest:
        ctx.say(f"warning: random split (not stratified): {reason}")
    splits: dict[str, list[Sample]] = {"train": [], "val": []}
    for s, sp in zip(samples, assign, strict=True):
        splits.setdefault(sp, []).append(s)
    for sp in ("train", "val") if ctx.split == "subset" else ():
        if not splits[sp]:
            ctx.say(f"warning: the {sp} split is empty")
    if "yolo" in ctx.formats:
        stems: dict[str, str] = {}
        for s in samples:
            stem = os.path.splitext(s.file_name)[0]
            if stem in stems:
                raise DatasetError(f"{ctx.src}: {stems[stem]!r} and {s.file_name!r} share the "
                                   f"stem {stem!r}; YOLO label files would collide")
            stems[stem] = s.file_name
    manifest: dict[str, Any] = {
        "version": 1, "dataset_id": ctx.dataset_id, "task": ctx.task, "seed": ctx.seed,
        **({"split": "subset"} if ctx.split == "subset" else {}),
        "ratios": {"train": ctx.train, "val": ctx.test,
                   "test": round(max(0.0, 1 - ctx.train - ctx.test), 10)},
        "stratified": stratified, "fallback_reason": reason if not stratified else None,
        "labels": list(labels), "formats": list(ctx.formats),
        "counts": {k: len(v) for k, v in splits.items()},
    }
    try:
        _write_all(ctx, splits, ann, manifest, linker)
    except OSError as exc:
        raise DatasetError(f"{ctx.out_root}: cannot write the dataset ({exc.strerror or exc}: "
                           f"{exc.filename or ctx.out_root}); set DATASETS_ROOT to a writable "
                           "folder") from None
    ctx.lap("write", t)
    for what, n in sorted(ctx.warn.items()):
        ctx.say(f"warning: {n} {what}")
    counts = " / ".join(f"{len(v)} {k}" for k, v in splits.items())
    ctx.say(f"dataset {ctx.dataset_id}: {len(samples)} samples ({counts}), {len(labels)} "
            f"labels, {len(ann.boxes)} boxes, {_split_kind(ctx, stratified)} split; wrote "
            f"{ctx.out_root} ({', '.join(ctx.formats)}) in "
            f"{time.perf_counter() - ctx.t0:.2f} s")
    manifest["warnings"] = dict(sorted(ctx.warn.items()))
    manifest["timings"] = {k: round(v, 3) for k, v in ctx.timings.items()}
    return manifest


def _split_kind(ctx: StageContext, stratified: bool) -> str:
    if ctx.split == "subset":
        return "subset"
    return "stratified" if stratified else "random"


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


def _write_all(ctx: StageContext, splits: dict[str, list[Sample]], ann: cvat.CvatAnnotations,
               manifest: dict[str, Any], linker: Linker) -> None:
    """Staging folders and links (in the worker), label files (here), then the swap."""
    labels = ann.labels
    imagefolder = "imagefolder" in ctx.formats
    if imagefolder:
        folders: dict[str, str] = {}
        for name in labels:
            f = class_folder(name)
            if f in folders:
                raise DatasetError(f"labels {folders[f]!r} and {name!r} map to the same "
                                   f"ImageFolder class folder {f!r}")
            folders[f] = name
    background = sum(len(v) for v in splits.values()) >= \
        env_int("TC_BACKGROUND_DELETE_MIN", WORKER_MIN)
    ctx.out_root.mkdir(parents=True, exist_ok=True)
    fresh_staging(ctx, background)
    staging = ctx.staging
    src = os.path.abspath(ctx.src)
    jobs: LinkJobs = []
    for top in ("images", *(("imagefolder",) if imagefolder else ())):
        (staging / top).mkdir()
        os.symlink(src, staging / top / SRC_LINK)
    for split, items in splits.items():
        (staging / "images" / split).mkdir()
        (staging / "labels" / split).mkdir(parents=True)
        jobs.append((staging / "images" / split, f"../{SRC_LINK}/", items))
        if imagefolder:
            base = staging / "imagefolder" / split
            base.mkdir()
            by_class: dict[int, list[Sample]] = {}
            for s in items:
                if s.primary < 0:
                    ctx.warn["images without a class (left out of imagefolder/)"] += 1
                else:
                    by_class.setdefault(s.primary, []).append(s)
            for i, name in enumerate(labels):
                (base / class_folder(name)).mkdir()
                if i in by_class:
                    jobs.append((base / class_folder(name), f"../../{SRC_LINK}/", by_class[i]))
    linker.submit(jobs)
    write_labels(ctx, splits, ann, manifest)
    linker.wait()
    swap_in(ctx, background)


#: the val split for ``tc report``, beside the model in TRAIN_ROOT (read on the host as data)
REPORT_SPLIT = "split.json"


def write_report_split(manifest: dict[str, Any], datasets: Path | None = None,
                       train: Path | None = None) -> Path | None:
    """Copy the val split's COCO ``labels.json`` into ``$TRAIN_ROOT/split.json`` as
    ``{"version": 1, "dataset_id", "task", "seed", "val": <COCO>}``, so that tc report never
    runs this code on the host. Streamed (no parse); a write problem is one warning line.
    Only node 0 of a multi-node job writes it (the other nodes write nothing to their output
    folder, as for the model and the metrics)."""
    if os.environ.get("PET_NODE_RANK", "0").strip() not in ("", "0"):
        return None
    src = (datasets or datasets_root()) / "labels" / "val" / "labels.json"
    root = train or Path(os.environ.get("TRAIN_ROOT") or "/train")
    if not src.is_file() or not (train or os.environ.get("TRAIN_ROOT") or root.is_dir()):
        return None
    dest = root / REPORT_SPLIT
    head = {k: manifest.get(k) for k in ("dataset_id", "task", "seed")}
    tmp = dest.with_name(f".{REPORT_SPLIT}.tmp")
    try:
        root.mkdir(parents=True, exist_ok=True)
        with open(src, "rb") as fin, open(tmp, "wb") as fout:
            fout.write(json.dumps({"version": 1, **head}).encode()[:-1] + b', "val": ')
            shutil.copyfileobj(fin, fout, 1 << 20)
            fout.write(b"}\n")
        os.replace(tmp, dest)
    except OSError as exc:
        print(f"[setup] warning: {dest}: not written ({exc.strerror or exc}); tc report "
              "will show no validation images", flush=True)
        with contextlib.suppress(OSError):
            tmp.unlink()
        return None
    return dest


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
