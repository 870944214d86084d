"""``tc report`` core: :func:`write_report` turns one run into ``.tc/report/index.html``.

What it needs and what it does without:

* ``metrics.jsonl`` (docs/report.md) -> loss and metric curves; absent -> the report says so and
  keeps everything else;
* the exported model (custom.json's ``model_filepath`` under ``/train``) + the val split the
  container wrote (``/train/split.json``, read as data; the images from
  ``.tc/minio/datasets/<id>``) -> predictions of the ONNX model with
  onnxruntime, the per-task numbers and the image grid; a model that does not load or run is
  reported ("the ONNX model could not be loaded: ..."), never a crash;
* the dev-run summary (``.tc/report/run.json`` or the ``summary`` argument) and metrics.json ->
  build/setup/train timings and the ONNX parity.

The HTML names only the PNGs written by this call. No Typer, no Rich.

Writes are confined (:func:`report_dir`): ``.tc/report`` must be a real folder inside the
project (a symlink, or a file there, is refused with exit 2); every file is built in a private
staging folder and renamed into place (a link at a file's name is replaced, never followed);
``.tc/report/manifest.json`` records the sha256 of each file written, and a later report
replaces or deletes a file only while its content still matches that digest.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tcli.errors import InputError
from tcli.report import formats, html, plots, scores
from tcli.report.artifacts import Run, load_run, parse_lenient, val_split
from tcli.report.failure import failure_part
from tcli.report.predict import ModelProblem, ground_truth, predict
from tcli.safety import atomic, jsonload, limits
from tcli.safety.confine import is_inside
from tcli.safety.digest import sha256_file

FORMAT = 1
#: val images the ONNX model is run on at most (a CPU pass over a huge split would stall dev-run)
MAX_VAL_IMAGES = 1000
#: files this module writes into .tc/report/ (replaced or removed by each new report while
#: their content matches the manifest)
OWNED = ("index.html", "report.json", "curves.png", "confusion.png", "per_class.png", "pr.png",
         "grid.png", "run.json")
MANIFEST = "manifest.json"


@dataclass
class ReportResult:
    """Where the report is and the numbers in it (``data`` is what ``--json`` prints)."""

    path: Path
    data: dict[str, Any]
    images: list[Path] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(self.data, indent=2)


def _timings(run: Run) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    durations = (run.summary or {}).get("durations")
    if isinstance(durations, dict):
        for key in ("build", "setup", "train"):
            v = durations.get(key)
            out[key] = float(v) if isinstance(v, int | float) else None
    if run.final and isinstance(run.final.get("train_seconds"), int | float):
        out["train_seconds_in_train_py"] = float(run.final["train_seconds"])
    return out


def _model_part(run: Run, data: dict[str, Any], names: list[str], samples: list[Any],
                out: Path, images: list[Path]) -> None:
    """Predictions of the ONNX model, the per-task numbers and their PNGs (into ``data``)."""
    task, k = run.task, len(names)
    model = data["model"]
    if run.model is None or not run.model.is_file():
        model["status"] = "missing"
        model["problem"] = f"no model file at {model['file'] or 'custom.json model_filepath'}"
        return
    if run.model.suffix != ".onnx":
        model["status"] = "not-onnx"
        model["problem"] = f"{run.model.name} is not an ONNX file; the report runs ONNX models only"
        return
    try:
        predict(task, run.model, samples, run.config, k)
    except ModelProblem as exc:
        model["status"] = "unusable"
        model["problem"] = str(exc)
        return
    model["status"] = "ok"
    if task in ("classification", "sklearn"):
        m = scores.confusion(samples, k)
        precision, recall = scores.precision_recall(m)
        total = int(m.sum())
        data["classification"] = {
            "confusion": m.tolist(), "precision": precision, "recall": recall,
            "accuracy": float(m.trace() / total) if total else None, "images": total}
        images.append(plots.confusion_matrix(m, names, out / "confusion.png"))
        images.append(plots.per_class_bars(names, {"precision": precision, "recall": recall},
                                           "per-class precision and recall (ONNX model)",
                                           out / "per_class.png"))
    elif task == "detection":
        det = scores.detection_ap(samples, k)
        defined = [a for a in det["ap"] if a is not None]
        data["detection"] = {"ap50": det["ap"], "map50": sum(defined) / len(defined) if defined else None,
                             "ground_truth_boxes": det["gt"]}
        images.append(plots.per_class_bars(names, {"AP@0.5": det["ap"]},
                                           "per-class AP at IoU 0.5 (ONNX model)", out / "per_class.png"))
        images.append(plots.pr_curves(names, det, out / "pr.png"))
    else:
        cats = sorted(data["_categories"], key=lambda c: c["id"])
        seg = scores.segmentation_iou(samples, cats, k)
        data["segmentation"] = {"classes": ["background", *names], "iou": seg["iou"], "miou": seg["miou"]}
        images.append(plots.per_class_bars(["background", *names], {"IoU": seg["iou"]},
                                           "per-class IoU (ONNX model)", out / "per_class.png"))
    images.append(plots.grid(task, samples, names, out / "grid.png"))


def report_dir(project_root: Path, out: Path) -> Path:
    """``out`` (``.tc/report``) created if missing; InputError when it or ``.tc`` is a link,
    not a folder, or resolves outside the project."""
    fix = ("tc report writes only into a real folder .tc/report inside the project; "
           "move that entry away")
    for folder in (out.parent, out):
        if folder.is_symlink():
            raise InputError(f"{folder}: is a symbolic link; not written through", fix)
        if folder.exists() and not folder.is_dir():
            raise InputError(f"{folder}: is a file, not a folder", fix)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise atomic.os_error(out, exc, "cannot create") from None
    if not is_inside(out, project_root) or out.is_symlink():
        raise InputError(f"{out}: resolves outside the project {project_root}", fix)
    return out


#: how index.html of a report written before the manifest existed begins
_LEGACY_HEAD = b'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>tc report '


def _legacy(out: Path) -> dict[str, str]:
    """The files of a report written before manifest.json existed, judged by content: an
    index.html with that tc report's head and a report.json of this folder naming its PNGs."""
    try:
        head = limits.read_bytes(out / "index.html", max_bytes=1 << 24)[:len(_LEGACY_HEAD)]
        data = parse_lenient(limits.read_bytes(out / "report.json", max_bytes=1 << 24),
                             "report.json")
    except InputError:
        return {}
    if head != _LEGACY_HEAD or not isinstance(data, dict) or data.get("format") != 1 \
            or data.get("report") != str(out / "index.html") \
            or not isinstance(data.get("images"), list):
        return {}
    names = ["index.html", "report.json", *(n for n in data["images"] if n in OWNED)]
    try:
        run = jsonload.load(out / "run.json", max_bytes=1 << 20)
        if isinstance(run, dict) and "durations" in run:
            names.append("run.json")
    except InputError:
        pass
    return {n: d for n in names if (d := sha256_file(out / n)) is not None}


def _manifest(out: Path) -> dict[str, str]:
    path = out / MANIFEST
    if not path.exists() and not path.is_symlink():
        return _legacy(out)
    try:
        data = jsonload.load(path, max_bytes=1 << 20, name=str(path))
    except InputError:
        return {}
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict):
        return {}
    return {k: v for k, v in files.items() if k in OWNED and isinstance(v, str)}


def _check_owned(out: Path, owned: dict[str, str], names: tuple[str, ...]) -> None:
    """InputError for an entry of ``names`` in ``out`` that tc did not write (or that changed
    since): it is neither replaced nor deleted."""
    for name in names:
        path = out / name
        if not path.exists() and not path.is_symlink():
            continue
        if owned.get(name) is None or sha256_file(path) != owned[name]:
            raise InputError(f"{path}: not written by tc report (or changed since); "
                             "tc replaces only its own files",
                             "move it out of .tc/report and run tc report again")


def _finite(value: Any) -> Any:
    """``value`` with NaN/Infinity replaced by None (report.json stays JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _publish(out: Path, stage: Path, owned: dict[str, str], keep: tuple[str, ...]) -> None:
    """Move every file of ``stage`` into ``out`` (a link at the name is replaced, not followed),
    delete the stale files of the last report whose digest still matches, write the manifest."""
    new = {p.name: sha256_file(p) for p in stage.iterdir()}
    _check_owned(out, owned, tuple(new))
    for name in OWNED:
        if name not in new and name not in keep and owned.get(name) is not None \
                and sha256_file(out / name) == owned[name]:
            (out / name).unlink()
    for name in new:
        atomic.replace(stage / name, out / name)
    files = {**{k: v for k, v in owned.items() if k in keep}, **{k: v for k, v in new.items() if v}}
    atomic.write_bytes(out / MANIFEST, (json.dumps({"format": 1, "files": files}, indent=2)
                                        + "\n").encode())


def build(run: Run, out: Path, max_images: int = MAX_VAL_IMAGES,
          extra: dict[str, bytes] | None = None) -> ReportResult:
    """Compute everything and write the PNGs, index.html and report.json (and ``extra``:
    name -> bytes, e.g. run.json) into ``out`` (see the module docstring on confinement)."""
    out = report_dir(run.project.root, out)
    owned = _manifest(out)
    extra = extra or {}
    keep = tuple(n for n in ("run.json",) if n not in extra)
    _check_owned(out, owned, tuple(n for n in OWNED if n not in keep))
    with tempfile.TemporaryDirectory(prefix=".build-", dir=out) as tmp:
        stage = Path(tmp)
        result = _compute(run, out, stage, max_images)
        for name, data in extra.items():
            (stage / name).write_bytes(data)
        _publish(out, stage, owned, keep)
    result.images = [out / p.name for p in result.images]
    return result


def _compute(run: Run, out: Path, stage: Path, max_images: int) -> ReportResult:
    """The numbers, the PNGs (into ``stage``), report.json and index.html (into ``stage``)."""
    images: list[Path] = []
    mj = run.metrics_json or {}
    rel = (os.path.relpath(run.model, run.project.root) if run.model is not None else None)
    data: dict[str, Any] = {
        "format": FORMAT, "project": str(run.project.root), "template": run.template.key,
        "task": run.task, "report": str(out / "index.html"),
        "model": {"file": rel, "bytes": run.model.stat().st_size if run.model and run.model.is_file()
                  else None, "status": None, "problem": None},
        "score": (run.summary or {}).get("score", mj.get("accuracy") if run.task in
                                         ("classification", "sklearn") else None),
        "timings": _timings(run),
        "onnx_parity": {"max_abs_diff": mj.get("onnx_max_abs_diff")},
        "metrics": {"epochs": run.epochs, "final": run.final} if run.epochs or run.final else None,
        "val": None, "classes": [], "images": [], "notes": run.notes,
        "failure": failure_part(run),
    }
    if run.epochs:
        images.append(plots.curves(run.epochs, stage / "curves.png"))
    else:
        run.notes.append("no metrics.jsonl beside the model: no loss/metric curves "
                         "(docs/report.md says what train.py can write)")
    with val_split(run) as split:
        if split is not None:
            names, samples = ground_truth(run.task, split.coco, split.images_dir)
            if len(samples) > max_images:
                run.notes.append(f"the val split has {len(samples)} images; the ONNX model was run "
                                 f"on the first {max_images} (by image id)")
                samples = samples[:max_images]
            data["classes"] = names
            data["val"] = {"dataset_id": run.dataset_id, "split_seed": split.seed,
                           "images": len(samples)}
            data["_categories"] = split.coco.get("categories", [])
            _model_part(run, data, names, samples, stage, images)
            data.pop("_categories", None)
        elif run.model is None or not run.model.is_file():
            data["model"]["status"] = "missing"
    data["formats"] = formats.read(run.train_dir, run.notes)  # tc model export's table
    data["images"] = [p.name for p in images]
    data = _finite(data)
    (stage / "report.json").write_text(json.dumps(data, indent=2, allow_nan=False) + "\n",
                                       encoding="utf-8")
    (stage / "index.html").write_text(html.render(data), encoding="utf-8")
    return ReportResult(out / "index.html", data, images)


def write_report(project: Path, template: str | None = None, *,
                 summary: dict[str, Any] | None = None, dataset_id: int | None = None,
                 max_images: int = MAX_VAL_IMAGES) -> ReportResult:
    """Write ``<project>/.tc/report/index.html`` for ``template`` (the only one by default).

    ``summary`` is ``tc dev-run``'s Summary as a dict (``dataclasses.asdict``); when given it is
    also saved as ``.tc/report/run.json`` so that a later ``tc report`` shows the same timings.
    Raises InputError when ``project`` is not a project, ``template`` is ambiguous, or the
    report folder is not tc's to write (see the module docstring).
    """
    run = load_run(project, template, summary, dataset_id)
    out = run.project.tc_dir / "report"
    extra = None
    if summary is not None:
        extra = {"run.json": (json.dumps(_finite(summary), indent=2, allow_nan=False)
                              + "\n").encode()}
    return build(run, out, max_images, extra)
