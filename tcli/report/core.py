"""``tc report`` core: :func:`write_report` turns one run into ``.tc/report/index.html``.

What it needs and what it does without:

* ``metrics.jsonl`` (docs/report.md) -> loss and metric curves; absent -> the report says so and
  keeps everything else;
* the exported model (custom.json's ``model_filepath`` under ``/train``) + the val split
  (reproduced from ``.tc/minio/datasets/<id>``) -> predictions of the ONNX model with
  onnxruntime, the per-task numbers and the image grid; a model that does not load or run is
  reported ("the ONNX model could not be loaded: ..."), never a crash;
* the dev-run summary (``.tc/report/run.json`` or the ``summary`` argument) and metrics.json ->
  build/setup/train timings and the ONNX parity.

The HTML names only the PNGs written by this call. No Typer, no Rich.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tcli.report import html, plots, scores
from tcli.report.predict import ModelProblem, ground_truth, predict
from tcli.report.run import Run, load_run, val_split

FORMAT = 1
#: val images the ONNX model is run on at most (a CPU pass over a huge split would stall dev-run)
MAX_VAL_IMAGES = 1000
#: files this module writes into .tc/report/ (removed before each new report)
OWNED = ("index.html", "report.json", "curves.png", "confusion.png", "per_class.png", "pr.png",
         "grid.png")


@dataclass
class ReportResult:
    """Where the report is and the numbers in it (``data`` is what ``--json`` prints)."""

    path: Path
    data: dict[str, Any]
    images: list[Path] = field(default_factory=list)


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


def build(run: Run, out: Path, max_images: int = MAX_VAL_IMAGES) -> ReportResult:
    """Compute everything and write the PNGs, index.html and report.json into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    for name in OWNED:
        (out / name).unlink(missing_ok=True)
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
    }
    if run.epochs:
        images.append(plots.curves(run.epochs, out / "curves.png"))
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
            _model_part(run, data, names, samples, out, images)
            data.pop("_categories", None)
        elif run.model is None or not run.model.is_file():
            data["model"]["status"] = "missing"
    data["images"] = [p.name for p in images]
    (out / "report.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    index = out / "index.html"
    tmp = out / ".index.html.tmp"
    tmp.write_text(html.render(data), encoding="utf-8")
    tmp.replace(index)
    return ReportResult(index, data, images)


def write_report(project: Path, template: str | None = None, *,
                 summary: dict[str, Any] | None = None, dataset_id: int | None = None,
                 max_images: int = MAX_VAL_IMAGES) -> ReportResult:
    """Write ``<project>/.tc/report/index.html`` for ``template`` (the only one by default).

    ``summary`` is ``tc dev-run``'s Summary as a dict (``dataclasses.asdict``); when given it is
    also saved as ``.tc/report/run.json`` so that a later ``tc report`` shows the same timings.
    Raises InputError only when ``project`` is not a project or ``template`` is ambiguous.
    """
    run = load_run(project, template, summary, dataset_id)
    out = run.project.tc_dir / "report"
    if summary is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "run.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return build(run, out, max_images)
