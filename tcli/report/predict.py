"""Run the exported ONNX model (onnxruntime, CPU) on the val images; read their ground truth.

The input/output contracts are the ones the templates document in their train.py:

* classification: float32 RGB in [0, 1] ``[N, 3, S, S]`` -> probabilities ``[N, K]``;
* detection: ``[1, 3, S, S]`` -> ``boxes [M, 4]`` (x1, y1, x2, y2 of the resized image),
  ``scores [M]``, ``labels [M]`` (category index + 1);
* segmentation: ``[N, 3, S, S]`` -> per-pixel probabilities ``[N, K + 1, S, S]`` (0 = background);
* sklearn: features ``[N, D]`` (resized RGB pixels + colour histograms) -> ``label``,
  ``probabilities``.

Images are resized with PIL's bilinear filter, as the templates do. Any failure of the model
(unloadable file, wrong input) raises :class:`ModelProblem` with one line for the report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

#: detections at or above this score are drawn and counted as predictions in the grid
DRAW_SCORE = 0.5


class ModelProblem(Exception):
    """The ONNX file cannot be loaded or run; the message goes into the report."""


@dataclass
class Sample:
    """One val image, its ground truth and (after :func:`predict`) the model's answer."""

    path: Path
    image: dict[str, Any]
    label: int | None = None                    # classification / sklearn: class index
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    box_labels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    annotations: list[dict[str, Any]] = field(default_factory=list)
    pred_label: int | None = None
    pred_prob: float | None = None
    pred_boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    pred_scores: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    pred_box_labels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    pred_mask: np.ndarray | None = None
    truth_mask: np.ndarray | None = None


def ground_truth(task: str, coco: dict[str, Any], images_dir: Path) -> tuple[list[str], list[Sample]]:
    """Class names (category-id order) and the val samples, as the template's train.py reads them."""
    categories = sorted(coco.get("categories", []), key=lambda c: c["id"])
    index_of = {c["id"]: i for i, c in enumerate(categories)}
    by_image: dict[int, list[dict[str, Any]]] = {}
    for ann in sorted(coco.get("annotations", []), key=lambda a: a["id"]):
        if ann.get("category_id") in index_of:
            by_image.setdefault(ann["image_id"], []).append(ann)
    samples: list[Sample] = []
    for img in sorted(coco.get("images", []), key=lambda i: i["id"]):
        anns = by_image.get(img["id"], [])
        s = Sample(images_dir / img["file_name"], img)
        if task in ("classification", "sklearn"):
            if not anns:
                continue  # train.py skips images without a class
            s.label = index_of[anns[0]["category_id"]]
        elif task == "detection":
            anns = [a for a in anns if a.get("bbox") and not a.get("iscrowd", 0)]
            if anns:
                s.boxes = np.asarray([[x, y, x + w, y + h] for x, y, w, h in
                                      (a["bbox"] for a in anns)], np.float32)
                s.box_labels = np.asarray([index_of[a["category_id"]] for a in anns], np.int64)
        else:
            s.annotations = [a for a in anns if a.get("segmentation")]
        samples.append(s)
    return [str(c["name"]) for c in categories], samples


def gt_mask(sample: Sample, class_of: dict[int, int]) -> np.ndarray:
    """Class-index mask of a segmentation sample (polygons and uncompressed RLE; later paint over)."""
    h, w = int(sample.image["height"]), int(sample.image["width"])
    canvas = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(canvas)
    flat = None
    for ann in sample.annotations:
        seg, cls = ann["segmentation"], class_of[ann["category_id"]]
        if isinstance(seg, list):
            for poly in seg:
                if len(poly) >= 6:
                    draw.polygon([(float(poly[i]), float(poly[i + 1]))
                                  for i in range(0, len(poly) - 1, 2)], fill=cls)
        elif isinstance(seg, dict) and isinstance(seg.get("counts"), list):
            flat = np.asarray(canvas).copy().reshape(-1, order="F")
            pos, value = 0, 0
            for run_len in seg["counts"]:
                if value:
                    flat[pos:pos + run_len] = cls
                pos += run_len
                value ^= 1
            canvas = Image.fromarray(flat.reshape((h, w), order="F"))
            draw = ImageDraw.Draw(canvas)
    return np.asarray(canvas, dtype=np.int64)


def _rgb(path: Path, size: int) -> tuple[np.ndarray, tuple[int, int]]:
    with Image.open(path) as opened:
        im = opened.convert("RGB")
        orig = im.size
        arr = np.asarray(im.resize((size, size), Image.Resampling.BILINEAR), np.float32) / 255.0
    return arr.transpose(2, 0, 1), orig


def sklearn_features(path: Path, size: int, bins: int) -> np.ndarray:
    """The sklearn template's ``image_features`` (pixels in [0, 1] + normalised histograms)."""
    with Image.open(path) as opened:
        im = opened.convert("RGB")
        full = np.asarray(im, dtype=np.uint8)
        small = np.asarray(im.resize((size, size), Image.Resampling.BILINEAR),
                           dtype=np.float32) / 255.0
    edges = np.linspace(0, 256, bins + 1)
    hists = [np.histogram(full[..., c], bins=edges)[0] for c in range(3)]
    hist = np.concatenate(hists).astype(np.float32) / float(full.shape[0] * full.shape[1])
    return np.concatenate([small.reshape(-1), hist]).astype(np.float32)


def load_session(model: Path) -> Any:
    import onnxruntime as ort

    if not model.is_file():
        raise ModelProblem(f"{model.name}: not found")
    try:
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        return ort.InferenceSession(str(model), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own (undocumented) classes
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelProblem(f"{model.name} could not be loaded by onnxruntime: {first[:300]}") from None


def _size(sess: Any, config: dict[str, Any]) -> int:
    dim = sess.get_inputs()[0].shape[-1]
    if isinstance(dim, int) and dim > 0:
        return dim
    value = config.get("img-size")
    return int(value) if isinstance(value, int) and value > 0 else 224


def predict(task: str, model: Path, samples: list[Sample], config: dict[str, Any],
            num_classes: int) -> None:
    """Fill each sample's predictions from the ONNX model (ModelProblem on any failure)."""
    sess = load_session(model)
    name = sess.get_inputs()[0].name
    try:
        if task == "sklearn":
            size, bins = int(config.get("img-size", 16)), int(config.get("histogram-bins", 8))
            x = np.stack([sklearn_features(s.path, size, bins) for s in samples]) if samples \
                else np.zeros((0, 1), np.float32)
            want = sess.get_inputs()[0].shape[1]
            if samples and isinstance(want, int) and want != x.shape[1]:
                raise ModelProblem(f"{model.name} expects {want} features, train_config.json gives "
                                   f"{x.shape[1]} (img-size/histogram-bins changed since the run?)")
            if samples:
                _label, proba = sess.run(None, {name: x})
                proba = np.asarray(proba, np.float32).reshape(len(samples), -1)
                for s, p in zip(samples, proba, strict=True):
                    s.pred_label, s.pred_prob = int(p.argmax()), float(p.max())
            return
        size = _size(sess, config)
        for s in samples:
            x, (w, h) = _rgb(s.path, size)
            outputs = sess.run(None, {name: x[None]})
            if task == "classification":
                p = np.asarray(outputs[0], np.float32).reshape(-1)
                s.pred_label, s.pred_prob = int(p.argmax()), float(p.max())
            elif task == "detection":
                boxes, scores, labels = (np.asarray(o) for o in outputs[:3])
                scale = np.asarray([w / size, h / size, w / size, h / size], np.float32)
                s.pred_boxes = boxes.reshape(-1, 4).astype(np.float32) * scale
                s.pred_scores = scores.reshape(-1).astype(np.float32)
                s.pred_box_labels = labels.reshape(-1).astype(np.int64) - 1
            else:
                proba = np.asarray(outputs[0], np.float32)
                if proba.ndim != 4 or proba.shape[1] != num_classes + 1:
                    raise ModelProblem(f"{model.name}: output shape {list(proba.shape)}, expected "
                                       f"[1, {num_classes + 1}, {size}, {size}]")
                small = Image.fromarray(proba[0].argmax(axis=0).astype(np.uint8))
                s.pred_mask = np.asarray(small.resize((w, h), Image.Resampling.NEAREST), np.int64)
    except ModelProblem:
        raise
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelProblem(f"{model.name} failed on the val images: {first[:300]}") from None
