"""Train a light scikit-learn classifier on simple image features (CPU only, seconds).

Input (written by setup.py): ``<images-dir>/{train,val}/<file>`` and
``<labels-dir>/{train,val}/labels.json`` (COCO; an image's class is its first annotation,
images without one are skipped).

Features of one image (float32, see ``image_features``): the image resized to
``img-size x img-size`` RGB, scaled to [0, 1] and flattened, followed by a normalised
``histogram-bins``-bin histogram per colour channel. The model is a scikit-learn Pipeline
(StandardScaler + the chosen estimator).

Output: ``<output-dir>/model.onnx`` (input ``features``: float32 ``[N, D]``; outputs ``label``
and ``probabilities`` in category-id order), converted here with skl2onnx through
``tc_export.export_model(..., "sklearn", ...)`` because the platform's export form knows only
PyTorch/TensorFlow/Keras; ``<output-dir>/metrics.json``; ``<output-dir>/metrics.jsonl`` (one
``epoch`` record -- a fit is one pass -- and a ``final`` record, read by ``tc report``; the
platform ignores it). The final lines::

    Test metric  Accuracy  0.9583
    Test metric  F1-macro  0.9561

Laid out like the torchvision templates: the data and features, the model, ``fit``,
``evaluate``, the export, and ``main`` from top to bottom.
"""

from __future__ import annotations

import json
import os
import pickle
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from PIL import Image

from args import parse_args

MODEL_FILENAME = "model.onnx"
METRICS_LOG = "metrics.jsonl"

Item = tuple[Path, int]  # (image path, class index)
Array = np.ndarray[Any, np.dtype[Any]]


# ----------------------------------------------------------------------------- data, features
def load_split(images_dir: str | Path, labels_dir: str | Path,
               split: str) -> tuple[list[Item], list[dict[str, Any]]]:
    """Return ``(items, categories)``: items are ``(image path, class index)``."""
    labels_file = Path(labels_dir) / split / "labels.json"
    if not labels_file.is_file():
        return [], []
    coco = json.loads(labels_file.read_text())
    categories = sorted(coco.get("categories", []), key=lambda c: c["id"])
    index_of = {c["id"]: i for i, c in enumerate(categories)}
    first: dict[int, int] = {}
    for ann in sorted(coco.get("annotations", []), key=lambda a: a["id"]):
        if ann.get("category_id") in index_of:
            first.setdefault(ann["image_id"], index_of[ann["category_id"]])
    items = [(Path(images_dir) / split / img["file_name"], first[img["id"]])
             for img in sorted(coco.get("images", []), key=lambda i: i["id"]) if img["id"] in first]
    return items, categories


def image_features(path: Path, size: int, bins: int) -> Array:
    """One float32 feature vector: resized RGB pixels in [0, 1] + per-channel histograms."""
    with Image.open(path) as im:
        rgb = im.convert("RGB")
        full = np.asarray(rgb, dtype=np.uint8)
        small = np.asarray(rgb.resize((size, size), Image.Resampling.BILINEAR),
                           dtype=np.float32) / 255.0
    edges = np.linspace(0, 256, bins + 1)
    hists = [np.histogram(full[..., c], bins=edges)[0] for c in range(3)]
    hist = np.concatenate(hists).astype(np.float32) / float(full.shape[0] * full.shape[1])
    return np.concatenate([small.reshape(-1), hist]).astype(np.float32)


class Features(NamedTuple):
    x: Array  # float32 [N, D]
    y: Array  # int64 [N] class indices


def featurize(items: Sequence[Item], size: int, bins: int) -> Features:
    if not items:
        return Features(np.zeros((0, size * size * 3 + 3 * bins), np.float32),
                        np.zeros(0, np.int64))
    x = np.stack([image_features(path, size, bins) for path, _ in items])
    y = np.asarray([label for _, label in items], dtype=np.int64)
    return Features(x, y)


# ----------------------------------------------------------------------------- model
def build_model(args: Any) -> Any:
    """A scikit-learn Pipeline: StandardScaler, then the ``--architecture`` estimator."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    if args.architecture == "random_forest":
        estimator = RandomForestClassifier(
            n_estimators=args.n_estimators, max_depth=args.max_depth or None,
            random_state=args.seed, n_jobs=args.num_workers or None)
    else:
        estimator = LogisticRegression(C=args.c, max_iter=args.max_iter, random_state=args.seed)
    return Pipeline([("scale", StandardScaler()), ("model", estimator)])


# ----------------------------------------------------------------------------- fit, evaluate
class Scores(NamedTuple):
    accuracy: float
    f1_macro: float  # over the classes present in the targets or the predictions


def fit(args: Any, train: Features) -> Any:
    """The fitted pipeline (one pass: the "epoch" of this template)."""
    return build_model(args).fit(train.x, train.y)


def evaluate(model: Any, data: Features) -> Scores:
    from sklearn.metrics import accuracy_score, f1_score

    pred = model.predict(data.x)
    labels = np.unique(np.concatenate([data.y, pred]))
    return Scores(float(accuracy_score(data.y, pred)),
                  float(f1_score(data.y, pred, average="macro", labels=labels, zero_division=0)))


def log_loss_or_none(model: Any, data: Features) -> float | None:
    """Mean cross-entropy of the model's probabilities on ``data``, or None when undefined."""
    from sklearn.metrics import log_loss

    if len(data.y) == 0 or not hasattr(model, "predict_proba"):
        return None
    try:
        return float(log_loss(data.y, model.predict_proba(data.x), labels=list(model.classes_)))
    except ValueError:
        return None


# ----------------------------------------------------------------------------- export, files
def save_pickle(model: Any, model_filepath: str) -> Path:
    """Fallback of export_model: a pickle next to the requested path (``.pkl``)."""
    path = Path(model_filepath).with_suffix(".pkl")
    with open(path, "wb") as fh:
        pickle.dump(model, fh)
    print(f"warning: ONNX export failed; saved a pickle to {path} "
          "(set custom.json model_filepath to it)", flush=True)
    return path


def write_metrics_json(path: Path, metrics: dict[str, Any]) -> None:
    """``metrics.json``, atomically (a partial file is never left)."""
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(metrics, indent=2) + "\n")
    os.replace(tmp, path)


def write_metrics_log(path: Path, records: Sequence[dict[str, Any]]) -> None:
    """``metrics.jsonl``: one JSON object per line, flushed after each (see tc's docs/report.md)."""
    with open(path, "w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record) + "\n")
            fh.flush()


# ----------------------------------------------------------------------------- main
def main(argv: Sequence[str] | None = None) -> int:
    run_start = time.perf_counter()
    args = parse_args(argv)
    np.random.seed(args.seed)

    train_items, categories = load_split(args.images_dir, args.labels_dir, "train")
    val_items, val_categories = load_split(args.images_dir, args.labels_dir, "val")
    names = [c["name"] for c in categories or val_categories]
    if not train_items:
        print(f"error: no labelled training images in {args.labels_dir}/train/labels.json",
              file=sys.stderr)
        return 2
    if not val_items:
        print("warning: the val split is empty; reporting metrics on the training split",
              flush=True)
        val_items = train_items
    print(f"data: {len(train_items)} train / {len(val_items)} val images, "
          f"{len(names)} classes: {', '.join(names)}", flush=True)

    start = time.perf_counter()
    train = featurize(train_items, args.img_size, args.histogram_bins)
    val = featurize(val_items, args.img_size, args.histogram_bins)
    feature_seconds = time.perf_counter() - start
    print(f"features: {train.x.shape[1]} per image, extracted in {feature_seconds:.1f}s",
          flush=True)
    if len(np.unique(train.y)) < 2:
        print(f"error: the training split has a single class ({names[int(train.y[0])]}); "
              "a scikit-learn classifier needs at least two -- label more classes or use the "
              "classification template", file=sys.stderr)
        return 2

    start = time.perf_counter()
    model = fit(args, train)
    train_acc = evaluate(model, train).accuracy
    scores = evaluate(model, val)
    fit_seconds = time.perf_counter() - start
    print(f"fit: {args.architecture} in {fit_seconds:.1f}s  train_acc {train_acc:.4f}  "
          f"val_acc {scores.accuracy:.4f}  val_f1 {scores.f1_macro:.4f}", flush=True)

    from tc_export import export_model

    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    model_filepath = out / MODEL_FILENAME
    result = export_model(model, str(model_filepath), "sklearn", save_pickle,
                          sample_input=val.x[:16])
    parity = getattr(result, "max_abs_diff", None)
    write_metrics_json(out / "metrics.json", dict(
        accuracy=scores.accuracy, f1_macro=scores.f1_macro, classes=names,
        val_images=len(val_items), features=int(train.x.shape[1]), model=str(model_filepath),
        onnx_max_abs_diff=parity))
    epoch_seconds = feature_seconds + fit_seconds
    write_metrics_log(out / METRICS_LOG, [
        dict(kind="epoch", epoch=1, epochs=1, loss=log_loss_or_none(model, train),
             lr=None, metric_name="accuracy", metric=scores.accuracy,
             val_loss=log_loss_or_none(model, val),
             images_per_s=len(train_items) / epoch_seconds if epoch_seconds > 0 else None,
             data_wait_share=feature_seconds / epoch_seconds if epoch_seconds > 0 else None,
             seconds=epoch_seconds),
        dict(kind="final", metric_name="accuracy", metric=scores.accuracy,
             score=scores.accuracy, epochs=1, train_seconds=time.perf_counter() - run_start,
             model_file=MODEL_FILENAME, world_size=1),
    ])
    if parity is not None:
        print(f"ONNX parity  max_abs_diff  {parity:.3e}", flush=True)
    print(f"Test metric  Accuracy  {scores.accuracy:.4f}", flush=True)
    print(f"Test metric  F1-macro  {scores.f1_macro:.4f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
