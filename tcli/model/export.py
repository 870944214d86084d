"""``tc model export``: every format the platform serves, from a finished run, each measured.

Where each format is made, and why there:

* ``onnx``: the run's ``model_filepath`` (the template exported and verified it in the image);
  measured here as the reference. It is never moved or rewritten.
* ``onnx-fp16``, ``onnx-int8``, ``triton``: made on the host from that ONNX file. An ONNX graph
  is data (checked by :mod:`tcli.safety.modelfile`), so converting it runs no project code.
  INT8 is calibrated on the train split's images: the dataset's images that are not in the val
  split the run wrote (``split.json``), at most :data:`CALIBRATION_IMAGES`.
* ``torchscript``: needs the model's Python code, which tc never runs on the host
  (docs/security.md), so it is made in the image: with ``TC_EXPORT_TORCHSCRIPT=1`` in the
  template's ``docker/.env`` the export step also writes ``model.torchscript`` and verifies it in
  a fresh process without the template's code (``model.torchscript.json``). Here it is listed
  (archive checked, size) with the image's parity; a TorchScript file is not loaded on the host.
* ``tensorrt``: needs NVIDIA's TensorRT on a GPU: tc prints the ``trtexec`` command for the NGC
  image (docs/model-export.md), built from the graph's input; never claimed as run.

Files go to ``<output folder>/formats/`` (``model.fp16.onnx``, ``model.int8.onnx``,
``triton/<name>/config.pbtxt`` + ``triton/<name>/1/model.onnx``) with ``formats.json`` (the
table). A file there is replaced only when ``formats.json`` says tc wrote it (its sha256);
anything else is left and named (exit 2).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tcli.contract import CUSTOM_JSON, EXPORT_FORMATS, EXPORT_FORMATS_DIR, EXPORT_FORMATS_RECORD, TEMPLATES
from tcli.errors import InputError
from tcli.model import convert, measure
from tcli.report import predict as rp
from tcli.report.artifacts import Run, load_run, val_split
from tcli.safety import atomic, jsonload, modelfile
from tcli.safety.digest import sha256_file

#: formats in table order; ``tc model export`` without --to makes all of them
ALL = ("onnx", "onnx-fp16", "onnx-int8", "torchscript", "triton", "tensorrt")
#: default: a format whose metric is more than this below the original's is marked
TOLERANCE = 0.02
#: most train images used to calibrate INT8
CALIBRATION_IMAGES = 64
RESULTS = EXPORT_FORMATS_RECORD
#: the templates whose runs this exports: the torch ones (tc_torch.py)
TASKS = tuple(t.name for t in TEMPLATES if t.flavor == "torch")


@dataclass
class Row:
    format: str
    file: str | None = None
    size: int | None = None
    status: str = "ok"  # ok | marked | failed | image | command
    metric: float | None = None
    delta: float | None = None
    max_abs_diff: float | None = None
    latency_ms_b1: float | None = None
    latency_ms_b32: float | None = None
    note: str = ""


@dataclass
class Result:
    task: str
    metric: str
    tolerance: float
    model: str
    folder: str
    val_images: int
    calibration_images: int
    rows: list[Row] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"version": 1, **asdict(self)}

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2)


def _guard(out: Path, known: dict[str, str], rel: str) -> Path:
    """The path of ``rel`` under ``out``; InputError when a file there is not tc's own."""
    path = out / rel
    if (path.exists() or path.is_symlink()) and (
            path.is_symlink() or not path.is_file() or sha256_file(path) != known.get(rel)):
        raise InputError(f"{path}: exists and was not written by tc model export",
                             "move it away, then run tc model export again")
    return path


def _write(out: Path, known: dict[str, str], written: dict[str, str], rel: str,
           data: bytes) -> Path:
    path = _guard(out, known, rel)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_bytes(path, data)
    written[rel] = sha256_file(path) or ""
    return path


def _previous(out: Path) -> dict[str, str]:
    path = out / RESULTS
    if not path.is_file():
        return {}
    try:
        data = jsonload.load(path, name=RESULTS)
    except InputError:
        return {}
    files = data.get("files") if isinstance(data, dict) else None
    return {k: v for k, v in files.items() if isinstance(k, str) and isinstance(v, str)} \
        if isinstance(files, dict) else {}


def _model_path(run: Run, run_dir: Path | None) -> Path:
    if run.model is None:
        raise InputError(f"{run.template.config_dir / CUSTOM_JSON}: no model_filepath under "
                         "/train", "set model_filepath (e.g. /train/model.onnx)")
    model = run.model if run_dir is None else run_dir / run.model.name
    if model.suffix != ".onnx":
        raise InputError(f"{model}: tc model export starts from the run's ONNX model, this "
                         f"run's model_filepath ends with {model.suffix}",
                         "export ONNX in train.py (tc_export.export_model)")
    if not model.exists() and not model.is_symlink():
        raise InputError(f"{model}: no model (the run did not finish?)",
                         "run tc dev-run first, or give the run's folder with --run")
    return model


def _calibration(run: Run, val_names: set[str], folder: Path) -> list[Path]:
    root = folder.resolve()
    found = []
    for p in sorted(folder.iterdir()) if folder.is_dir() else []:
        if p.name.startswith(".") or p.name in val_names or not p.is_file() or p.is_symlink():
            continue
        if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff") \
                and p.resolve().parent == root:
            found.append(p)
    return found[:CALIBRATION_IMAGES]


def export_formats(path: Path, template: str | None = None, to: tuple[str, ...] = ALL,
                   run_dir: Path | None = None, tolerance: float = TOLERANCE,
                   triton_name: str | None = None) -> Result:
    """Make and measure the formats ``to`` of the last run of ``path``'s template."""
    unknown = [t for t in to if t not in EXPORT_FORMATS]
    if unknown:
        raise InputError(f"--to {unknown[0]!r} is not a format tc exports",
                         f"use {', '.join(ALL)}")
    run = load_run(path, template)
    if run.task not in TASKS:
        raise InputError(f"{run.template.key}: tc model export supports the torchvision "
                         f"templates ({', '.join(TASKS)}), this one is {run.task}",
                         "its ONNX model (model_filepath) is what the platform serves")
    if run_dir is not None:
        if not run_dir.is_dir():
            raise InputError(f"--run {run_dir}: not a folder", "give a run's output folder")
        run.train_dir = run_dir  # split.json is read from there (inside the project only)
    train_dir = run.train_dir
    model_path = _model_path(run, run_dir)
    original, data = modelfile.read_onnx(model_path)
    out = train_dir / EXPORT_FORMATS_DIR
    known, written = _previous(out), dict[str, str]()
    with val_split(run) as split:
        if split is None:
            raise InputError(f"{train_dir}: no val split to measure on ({'; '.join(run.notes)})",
                             "run tc dev-run again (it writes split.json)")
        names, samples = rp.ground_truth(run.task, split.coco, split.images_dir)
        categories = sorted(split.coco.get("categories", []), key=lambda c: c["id"])
        val_names = {s.path.name for s in samples}
        calib_paths = _calibration(run, val_names, split.images_dir)
    k = len(names)
    try:
        ref = measure.session(data)
    except Exception as exc:  # onnxruntime raises its own (undocumented) classes
        raise InputError(f"{model_path}: onnxruntime cannot load it: "
                         f"{convert.first_line(exc)}", "export the model again") from None
    size = measure.input_size(ref, run.config)
    diff_inputs = measure.images([s.path for s in samples[:measure.DIFF_IMAGES]], size)
    result = Result(run.task, measure.METRIC[run.task], tolerance, model_path.name, str(out),
                    len(samples), len(calib_paths))

    def measured(fmt: str, file: Path, blob: bytes, sess: Any, note: str = "") -> Row:
        row = Row(fmt, str(file), file.stat().st_size, note=note)
        try:
            row.metric = measure.metric(run.task, file, samples, run.config, k, categories)
        except rp.ModelProblem as exc:
            if fmt == "onnx":
                raise InputError(str(exc), "export the model again (tc dev-run)") from None
            raise convert.ConvertFailed(str(exc)) from None
        try:
            if fmt != "onnx":
                row.max_abs_diff, differ = measure.max_diff(ref, sess, diff_inputs)
                if differ:
                    row.note = _join(row.note, f"{differ} output(s) of another shape "
                                               "(other detections)")
            else:
                row.max_abs_diff = 0.0
            row.latency_ms_b1 = measure.latency(sess, size, 1)
        except Exception as exc:  # onnxruntime's own classes: the row says why
            row.note = _join(row.note, f"not measured: {convert.first_line(exc)}")
        if run.task == "detection":
            row.note = _join(row.note, "b32 n/a: the detection model takes one image")
        else:
            try:
                row.latency_ms_b32 = measure.latency(sess, size, 32)
            except Exception as exc:  # a model without a batch axis
                row.note = _join(row.note, f"b32 not measured: {convert.first_line(exc)}")
        return row

    try:
        base = measured("onnx", model_path, data, ref, "the run's model_filepath (reference)")
    except convert.ConvertFailed as exc:  # the run's own model fails on its val images
        raise InputError(f"{model_path}: {exc}", "export the model again (tc dev-run)") from None
    result.rows.append(base)
    for fmt in to:
        if fmt == "onnx":
            continue
        try:
            if fmt == "onnx-fp16":
                blob = convert.to_fp16(original)
                file = _write(out, known, written, "model.fp16.onnx", blob)
                result.rows.append(measured(fmt, file, blob, measure.session(blob)))
            elif fmt == "onnx-int8":
                batches = measure.images(calib_paths, size)
                blob = convert.to_int8(data, ref.get_inputs()[0].name, batches)
                file = _write(out, known, written, "model.int8.onnx", blob)
                result.rows.append(measured(fmt, file, blob, measure.session(blob),
                                            f"calibrated on {len(batches)} train images"))
            elif fmt == "torchscript":
                result.rows.append(_torchscript(model_path))
            elif fmt == "triton":
                result.rows.append(_triton(out, known, written, original, data, run,
                                           triton_name or _name(run)))
            elif fmt == "tensorrt":
                result.rows.append(Row("tensorrt", status="command", note=trtexec_command(
                    ref, model_path.name, size, batched=run.task != "detection")))
        except convert.ConvertFailed as exc:
            result.rows.append(Row(fmt, status="failed", note=str(exc)))
    mark(result.rows, base, result.metric, tolerance)
    record = {**result.as_dict(), "files": {**known, **written}}
    out.mkdir(parents=True, exist_ok=True)
    atomic.write_text(out / RESULTS, json.dumps(record, indent=2) + "\n")
    return result


def mark(rows: list[Row], base: Row, metric: str, tolerance: float) -> None:
    """Each row's metric delta against ``base``; a drop beyond ``tolerance`` is marked (the
    row stays in the table)."""
    for row in rows:
        if row.metric is not None and base.metric is not None:
            row.delta = row.metric - base.metric
            if row.delta < -tolerance:
                row.status = "marked"
                row.note = _join(row.note, f"{metric} {-row.delta:.3f} below the original "
                                           f"(tolerance {tolerance:g})")


def _join(a: str, b: str) -> str:
    return f"{a}; {b}" if a else b


def _name(run: Run) -> str:
    raw = f"{run.template.category}_{run.template.architecture}".lower()
    return "".join(c if c.isalnum() or c in "_-" else "_" for c in raw)[:100] or "model"


def _triton(out: Path, known: dict[str, str], written: dict[str, str], original: Any,
            data: bytes, run: Run, name: str) -> Row:
    config = convert.triton_config(original, name, batching=run.task != "detection")
    text = convert.triton_text(config)
    _write(out, known, written, f"triton/{name}/1/model.onnx", data)
    cfg = _write(out, known, written, f"triton/{name}/config.pbtxt", text.encode())
    batch = f"dynamic batch up to {config.max_batch_size}" if config.max_batch_size \
        else "no batching (max_batch_size 0)"
    return Row("triton", str(cfg.parent), (cfg.parent / "1" / "model.onnx").stat().st_size,
               status="ok", note=f"{config.platform}, {batch}; the same model as onnx")


def _torchscript(model_path: Path) -> Row:
    ts = model_path.with_suffix(".torchscript")
    verdict_file = ts.with_name(ts.name + ".json")
    hint = ("made in the image: put TC_EXPORT_TORCHSCRIPT=1 in the template's docker/.env and "
            "run tc dev-run again")
    verdict: dict[str, Any] = {}
    if verdict_file.is_file():
        try:
            loaded = jsonload.load(verdict_file, name=verdict_file.name)
            verdict = loaded if isinstance(loaded, dict) else {}
        except InputError as exc:
            return Row("torchscript", status="failed", note=exc.message)
    if not ts.is_file():
        reason = verdict.get("reason")
        return Row("torchscript", status="failed" if reason else "image",
                   note=f"not written in the image: {str(reason)[:300]}" if reason else hint)
    modelfile.torchscript_members(ts)
    diff = verdict.get("max_abs_diff")
    row = Row("torchscript", str(ts), ts.stat().st_size, status="image",
              max_abs_diff=float(diff) if isinstance(diff, int | float) and not
              isinstance(diff, bool) else None)
    how = verdict.get("method") if verdict.get("method") in ("script", "trace") else "?"
    row.note = (f"{how}; loaded back in a fresh process in the image (diff vs eager model); "
                "not run on the host (TorchScript is code)")
    if verdict.get("ok") is not True:
        row.status, row.note = "failed", "the image's check did not pass: " + row.note
    return row


def trtexec_command(sess: Any, model_name: str, size: int, *, batched: bool = True) -> str:
    """The TensorRT engine build for NVIDIA's TensorRT image (run on a GPU; never here).
    A dynamic first axis gets batch 1..32 (8 optimal), or exactly 1 when it is not a batch
    (the detection template takes one image)."""
    name = sess.get_inputs()[0].name
    shape = sess.get_inputs()[0].shape
    dynamic = not isinstance(shape[0], int)
    top, opt = (32, 8) if batched else (1, 1)
    shapes = (f" --minShapes={name}:1x3x{size}x{size} --optShapes={name}:{opt}x3x{size}x{size}"
              f" --maxShapes={name}:{top}x3x{size}x{size}") if dynamic else ""
    return (f"docker run --rm --gpus all -v $PWD/.tc/train:/m nvcr.io/nvidia/tensorrt:25.01-py3 "
            f"trtexec --onnx=/m/{model_name} --saveEngine=/m/formats/model.plan --fp16{shapes}")
