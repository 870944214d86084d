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
"""

import json
import pickle
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from args import parse_args

MODEL_FILENAME = "model.onnx"
METRICS_LOG = "metrics.jsonl"


def load_split(images_dir, labels_dir, split):
    """Return ``(items, categories)``: items are ``(image path, class index)``."""
    labels_file = Path(labels_dir) / split / "labels.json"
    if not labels_file.is_file():
        return [], []
    coco = json.loads(labels_file.read_text())
    categories = sorted(coco.get("categories", []), key=lambda c: c["id"])
    index_of = dict((c["id"], i) for i, c in enumerate(categories))
    first = dict()
    for ann in sorted(coco.get("annotations", []), key=lambda a: a["id"]):
        if ann.get("category_id") in index_of:
            first.setdefault(ann["image_id"], index_of[ann["category_id"]])
    items = []
    for img in sorted(coco.get("images", []), key=lambda i: i["id"]):
        if img["id"] in first:
            items.append((Path(images_dir) / split / img["file_name"], first[img["id"]]))
    return items, categories


def image_features(path, size, bins):
    """One float32 feature vector: resized RGB pixels in [0, 1] + per-channel histograms."""
    with Image.open(path) as im:
        im = im.convert("RGB")
        full = np.asarray(im, dtype=np.uint8)
        small = np.asarray(im.resize((size, size), Image.BILINEAR), dtype=np.float32) / 255.0
    edges = np.linspace(0, 256, bins + 1)
    hists = [np.histogram(full[..., c], bins=edges)[0] for c in range(3)]
    hist = np.concatenate(hists).astype(np.float32) / float(full.shape[0] * full.shape[1])
    return np.concatenate([small.reshape(-1), hist]).astype(np.float32)


def featurize(items, size, bins):
    if not items:
        return np.zeros((0, size * size * 3 + 3 * bins), np.float32), np.zeros(0, np.int64)
    x = np.stack([image_features(path, size, bins) for path, _ in items])
    y = np.asarray([label for _, label in items], dtype=np.int64)
    return x, y


def build_model(args):
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


def save_pickle(model, model_filepath):
    """Fallback of export_model: a pickle next to the requested path (``.pkl``)."""
    path = Path(model_filepath).with_suffix(".pkl")
    with open(path, "wb") as fh:
        pickle.dump(model, fh)
    print("warning: ONNX export failed; saved a pickle to {} "
          "(set custom.json model_filepath to it)".format(path), flush=True)
    return path


def write_metrics_log(path, records):
    """``metrics.jsonl``: one JSON object per line, flushed after each (see tc's docs/report.md)."""
    with open(path, "w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record) + "\n")
            fh.flush()


def log_loss_or_none(model, x, y):
    """Mean cross-entropy of the model's probabilities on ``(x, y)``, or None when undefined."""
    from sklearn.metrics import log_loss

    if len(y) == 0 or not hasattr(model, "predict_proba"):
        return None
    try:
        return float(log_loss(y, model.predict_proba(x), labels=list(model.classes_)))
    except ValueError:
        return None


def main(argv=None):
    from sklearn.metrics import accuracy_score, f1_score

    run_start = time.perf_counter()

    args = parse_args(argv)
    np.random.seed(args.seed)
    train_items, categories = load_split(args.images_dir, args.labels_dir, "train")
    val_items, val_categories = load_split(args.images_dir, args.labels_dir, "val")
    categories = categories or val_categories
    names = [c["name"] for c in categories]
    if not train_items:
        print("error: no labelled training images in {}/train/labels.json".format(args.labels_dir),
              file=sys.stderr)
        return 2
    if not val_items:
        print("warning: the val split is empty; reporting metrics on the training split",
              flush=True)
        val_items = train_items
    print("data: {} train / {} val images, {} classes: {}".format(
        len(train_items), len(val_items), len(names), ", ".join(names)), flush=True)

    start = time.perf_counter()
    x_train, y_train = featurize(train_items, args.img_size, args.histogram_bins)
    x_val, y_val = featurize(val_items, args.img_size, args.histogram_bins)
    feature_seconds = time.perf_counter() - start
    print("features: {} per image, extracted in {:.1f}s".format(
        x_train.shape[1], feature_seconds), flush=True)
    if len(np.unique(y_train)) < 2:
        print("error: the training split has a single class ({}); a scikit-learn classifier "
              "needs at least two -- label more classes or use the classification template"
              .format(names[int(y_train[0])]), file=sys.stderr)
        return 2

    start = time.perf_counter()
    model = build_model(args).fit(x_train, y_train)
    train_acc = accuracy_score(y_train, model.predict(x_train))
    pred = model.predict(x_val)
    accuracy = float(accuracy_score(y_val, pred))
    f1 = float(f1_score(y_val, pred, average="macro", labels=np.unique(np.concatenate(
        [y_val, pred])), zero_division=0))
    fit_seconds = time.perf_counter() - start
    print("fit: {} in {:.1f}s  train_acc {:.4f}  val_acc {:.4f}  val_f1 {:.4f}".format(
        args.architecture, fit_seconds, train_acc, accuracy, f1), flush=True)

    from tc_export import export_model

    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    model_filepath = out / MODEL_FILENAME
    result = export_model(model, str(model_filepath), "sklearn", save_pickle,
                          sample_input=x_val[:16])
    parity = getattr(result, "max_abs_diff", None)
    metrics = dict(accuracy=accuracy, f1_macro=f1, classes=names, val_images=len(val_items),
                   features=int(x_train.shape[1]), model=str(model_filepath),
                   onnx_max_abs_diff=parity)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    epoch_seconds = feature_seconds + fit_seconds
    write_metrics_log(out / METRICS_LOG, [
        dict(kind="epoch", epoch=1, epochs=1, loss=log_loss_or_none(model, x_train, y_train),
             lr=None, metric_name="accuracy", metric=accuracy,
             val_loss=log_loss_or_none(model, x_val, y_val),
             images_per_s=len(train_items) / epoch_seconds if epoch_seconds > 0 else None,
             data_wait_share=feature_seconds / epoch_seconds if epoch_seconds > 0 else None,
             seconds=epoch_seconds),
        dict(kind="final", metric_name="accuracy", metric=accuracy, score=accuracy, epochs=1,
             train_seconds=time.perf_counter() - run_start, model_file=MODEL_FILENAME,
             world_size=1),
    ])
    if parity is not None:
        print("ONNX parity  max_abs_diff  {:.3e}".format(parity), flush=True)
    print("Test metric  Accuracy  {:.4f}".format(accuracy), flush=True)
    print("Test metric  F1-macro  {:.4f}".format(f1), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
