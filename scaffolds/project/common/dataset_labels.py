# Managed by tc (`tc update` brings its new versions) — edit train.py instead.
"""The label files of a split besides COCO, and the writing of all of them in staging:
YOLO ``<stem>.txt`` + ``data.yaml``, ``split_manifest.json``, ImageFolder class names; a
large first split's ``labels.json`` is shared with a forked process (:class:`SharedCoco`)."""

# ruff: noqa: UP031
from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cvat_dataset as cvat
from dataset_base import Sample, StageContext, env_int
from dataset_coco import (
    COCO_TAIL,
    annotation_counts,
    coco_head,
    group_parts,
    part_box,
    union_box,
    write_annotations,
    write_coco,
)

#: from this many samples in the first split on (``TC_FORK_WRITER_MIN``; ``TC_FORK_WRITER=0``
#: turns it off), its labels.json is shared with a forked process (see SharedCoco)
FORK_WRITER_MIN = 2000


def write_yolo(ctx: StageContext, folder: Path, samples: Sequence[Sample],
               ann: cvat.CvatAnnotations) -> None:
    """One ``<stem>.txt`` per sample (empty for negatives), normalised coordinates."""
    b = ann.boxes
    seg = ctx.task == "segmentation"
    for s in samples:
        lines: list[str] = []
        img = s.image
        W, H = float(s.width or 1), float(s.height or 1)
        if img is not None and img.grouped and not seg:
            for _gid, parts in group_parts(img, ann):  # one box per object
                if all(p[0] == "mask" for p in parts):
                    ctx.warn["masks left out of YOLO files"] += 1
                    continue
                x, y, w, h = union_box([part_box(ctx, s, p, ann)[0] for p in parts])
                lines.append("%d %.6f %.6f %.6f %.6f" % (
                    parts[0][1], (x + w / 2) / W, (y + h / 2) / H, w / W, h / H))
        elif img is not None:
            for k in range(img.b0, img.b1):
                x, y, w, h = b.x[k], b.y[k], b.w[k], b.h[k]
                if seg:
                    pts = (x, y, x + w, y, x + w, y + h, x, y + h)
                    lines.append("%d " % b.label[k] + " ".join(
                        "%.6f" % (v / (W if i % 2 == 0 else H)) for i, v in enumerate(pts)))
                else:
                    lines.append("%d %.6f %.6f %.6f %.6f" % (
                        b.label[k], (x + w / 2) / W, (y + h / 2) / H, w / W, h / H))
            for kind, lab, data, _o, _z, _a in img.shapes or ():
                if kind == "polygon":
                    if seg:
                        lines.append("%d " % lab + " ".join(
                            "%.6f" % (v / (W if i % 2 == 0 else H)) for i, v in enumerate(data)))
                    else:
                        x, y, w, h = cvat.polygon_bbox(data)
                        lines.append("%d %.6f %.6f %.6f %.6f" % (
                            lab, (x + w / 2) / W, (y + h / 2) / H, w / W, h / H))
                elif kind == "mask":
                    ctx.warn["masks left out of YOLO files"] += 1
        (folder / (os.path.splitext(s.file_name)[0] + ".txt")).write_text(
            "".join(line + "\n" for line in lines))


def write_manifest(ctx: StageContext, path: Path, manifest: dict[str, Any],
                   splits: dict[str, list[Sample]], labels: list[str]) -> None:
    """``split_manifest.json``: the summary, then one row per sample in id order."""
    head = dict(manifest)
    head["warnings"] = dict(sorted(ctx.warn.items()))
    order: list[tuple[int, str, Sample]] = []
    for split, items in splits.items():
        order.extend((s.id, split, s) for s in items)
    order.sort(key=lambda t: t[0])
    # one row per sample, formatted directly (as json.dumps of the dict would, 3x faster)
    enc = json.JSONEncoder(ensure_ascii=False).encode
    labels_json: dict[tuple[int, ...], str] = {}
    split_json = {split: enc(split) for split in splits}
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(head, indent=2, ensure_ascii=False)[:-2] + ',\n  "samples": [\n    ')
        rows: list[str] = []
        for n, (_id, split, s) in enumerate(order):
            img = s.image
            key = tuple(s.labels)
            lj = labels_json.get(key)
            if lj is None:
                lj = labels_json[key] = enc([labels[i] for i in key])
            rows.append('{"file_name": %s, "split": %s, "labels": %s, "xml_name": %s, '
                        '"subset": %s}' % (enc(s.file_name), split_json[split], lj,
                                           enc(img.xml_name) if img else "null",
                                           enc(img.subset) if img else "null"))
            if len(rows) >= 20000:  # streamed in chunks: memory stays flat
                fh.write(",\n    ".join(rows) + (",\n    " if n + 1 < len(order) else ""))
                rows.clear()
        fh.write(",\n    ".join(rows) + "\n  ]\n}\n")
    os.replace(tmp, path)


def class_folder(name: str) -> str:
    """A safe folder name for a label (``/``, ``\\``, NUL and a leading ``.`` -> ``_``)."""
    out = name.replace("/", "_").replace("\\", "_").replace("\x00", "_")
    if not out or out.startswith("."):
        out = "_" + out[1:] if out else "_"
    return out


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


# ----------------------------------------------------------------------------- links


#: the cost of one sample's manifest row (and YOLO line), in annotation lines
MANIFEST_COST = 1.25


@dataclass
class SharedCoco:
    """The first split's labels.json, written by two processes: a forked child writes the
    head and the annotations of ``samples[:cut]`` into ``<file>.head``; this process writes
    those of ``samples[cut:]`` into ``<file>.rest`` beside the other splits' files, then
    joins the two. A child that fails in any way makes this process write the whole file."""

    path: Path
    split: str
    samples: list[Sample]
    first_id: int
    cut: int
    rest_id: int  # the first annotation id of samples[cut:]
    next_id: int  # the next split's first id
    pid: int

    @classmethod
    def start(cls, ctx: StageContext, path: Path, split: str, samples: list[Sample],
              others: Sequence[Sample], ann: cvat.CvatAnnotations, aid: int
              ) -> SharedCoco | None:
        if len(samples) < env_int("TC_FORK_WRITER_MIN", FORK_WRITER_MIN) or \
                not cvat.may_fork("TC_FORK_WRITER"):
            return None
        counts = annotation_counts(ctx, samples, ann)
        extra = MANIFEST_COST * (1 + ("yolo" in ctx.formats))
        # this process also writes the other splits and every sample's manifest row
        total = sum(counts) + sum(annotation_counts(ctx, others, ann)) + \
            extra * (len(samples) + len(others))
        cut, done = 0, 0
        while cut < len(samples) and done < total / 2:
            done += counts[cut]
            cut += 1

        def write_head() -> None:  # in the child
            with open(cls._part(path, "head"), "w", encoding="utf-8") as fh:
                fh.write(coco_head(ctx, split, samples, ann))
                write_annotations(ctx, fh, samples[:cut], ann, aid)

        pid = cvat.fork_run(write_head)
        return cls(path, split, samples, aid, cut, aid + done, aid + sum(counts), pid)

    @staticmethod
    def _part(path: Path, which: str) -> Path:
        return path.with_name(f"{path.name}.{which}")

    def write_rest(self, ctx: StageContext, ann: cvat.CvatAnnotations) -> None:
        with open(self._part(self.path, "rest"), "w", encoding="utf-8") as fh:
            write_annotations(ctx, fh, self.samples[self.cut:], ann, self.rest_id,
                              after=self.rest_id > self.first_id)

    def join(self, ctx: StageContext, ann: cvat.CvatAnnotations) -> None:
        """Wait for the child; head + rest + tail into the file (or all of it here)."""
        _, status = os.waitpid(self.pid, 0)
        head, rest = self._part(self.path, "head"), self._part(self.path, "rest")
        if status == 0:
            with open(head, "a", encoding="utf-8") as out, open(rest, encoding="utf-8") as part:
                shutil.copyfileobj(part, out, 1 << 20)
                out.write(COCO_TAIL)
            os.replace(head, self.path)
        else:
            write_coco(ctx, self.path, self.split, self.samples, ann, self.first_id)
        for leftover in (head, rest):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()

    def abandon(self) -> None:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)


def write_labels(ctx: StageContext, splits: dict[str, list[Sample]],
                  ann: cvat.CvatAnnotations, manifest: dict[str, Any]) -> None:
    """COCO (and YOLO) label files per split, data.yaml, split_manifest.json (in staging).

    With a large first split its COCO file is shared with a forked process
    (:class:`SharedCoco`); the bytes are the same either way."""
    staging = ctx.staging
    aid = 1
    first, *later = splits
    shared: SharedCoco | None = None
    try:
        if later:
            shared = SharedCoco.start(
                ctx, staging / "labels" / first / "labels.json", first, splits[first],
                [s for split in later for s in splits[split]], ann, aid)
        for split, items in splits.items():
            lab_dir = staging / "labels" / split
            if shared is not None and shared.split == split:
                aid = shared.next_id
            else:
                aid = write_coco(ctx, lab_dir / "labels.json", split, items, ann, aid)
            if "yolo" in ctx.formats:
                write_yolo(ctx, lab_dir, items, ann)
        _write_rest(ctx, splits, ann, manifest)
        if shared is not None:
            shared.write_rest(ctx, ann)
    except BaseException:
        if shared is not None:
            shared.abandon()
        raise
    if shared is not None:
        shared.join(ctx, ann)


def _write_rest(ctx: StageContext, splits: dict[str, list[Sample]],
                ann: cvat.CvatAnnotations, manifest: dict[str, Any]) -> None:
    """data.yaml (with YOLO) and split_manifest.json."""
    staging = ctx.staging
    if "yolo" in ctx.formats:
        yaml = [f"path: {json.dumps(str(ctx.out_root))}"]
        for split in splits:
            yaml.append(f"{split}: images/{split}")
        yaml.append(f"nc: {len(ann.labels)}")
        yaml.append("names: [" + ", ".join(json.dumps(n) for n in ann.labels) + "]")
        _write_text(staging / "data.yaml", "\n".join(yaml) + "\n")
    write_manifest(ctx, staging / "split_manifest.json", manifest, splits, ann.labels)


# ----------------------------------------------------------------------------- report split
