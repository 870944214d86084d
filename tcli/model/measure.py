"""Measure one ONNX model on the val split: task metric, max output difference, latency.

* metric: the report's own code (:mod:`tcli.report.predict`, :mod:`tcli.report.scores`):
  accuracy (classification), mAP@0.5 over the classes with ground truth (detection), mIoU with
  background (segmentation);
* max abs diff: every output of the format against the original model's, on the first
  :data:`DIFF_IMAGES` val images (one at a time; outputs of another shape -- a detection model
  finding another number of boxes -- are counted, not compared);
* latency: onnxruntime on this machine's CPU, random inputs of the model's shape, batch 1 and
  32, one warm-up run then the median of :data:`RUNS` runs (ms per batch).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tcli.report import predict as rp
from tcli.report import scores

#: val images compared output by output
DIFF_IMAGES = 8
#: timed runs per batch size (after one warm-up)
RUNS = {1: 10, 32: 3}
#: the task's metric name
METRIC = {"classification": "accuracy", "detection": "mAP50", "segmentation": "mIoU"}


@dataclass
class Measured:
    metric: float | None = None
    max_abs_diff: float | None = None
    latency_ms: dict[int, float | None] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def session(data: bytes) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(data, sess_options=opts, providers=["CPUExecutionProvider"])


def input_size(sess: Any, config: dict[str, Any]) -> int:
    dim = sess.get_inputs()[0].shape[-1]
    if isinstance(dim, int) and dim > 0:
        return dim
    value = config.get("img-size")
    return int(value) if isinstance(value, int) and not isinstance(value, bool) and value > 0 \
        else 224


def images(paths: list[Path], size: int) -> list[np.ndarray]:
    """``[1, 3, size, size]`` float32 RGB in [0, 1], as the templates (and tc report) feed them."""
    return [rp._rgb(p, size)[0][None] for p in paths]


def metric(task: str, model: Path, samples: list[rp.Sample], config: dict[str, Any],
           k: int, categories: list[dict[str, Any]]) -> float | None:
    rp.predict(task, model, samples, config, k)
    if task == "classification":
        done = [s for s in samples if s.label is not None]
        return sum(s.pred_label == s.label for s in done) / len(done) if done else None
    if task == "detection":
        aps = [a for a in scores.detection_ap(samples, k)["ap"] if a is not None]
        return float(np.mean(aps)) if aps else None
    miou = scores.segmentation_iou(samples, categories, k)["miou"]
    return None if miou is None else float(miou)


def max_diff(reference: Any, other: Any, inputs: list[np.ndarray]) -> tuple[float | None, int]:
    """(max abs diff over comparable outputs, number of outputs whose shapes differ)."""
    worst: float | None = None
    differ = 0
    name_r, name_o = reference.get_inputs()[0].name, other.get_inputs()[0].name
    for x in inputs:
        for a, b in zip(reference.run(None, {name_r: x}), other.run(None, {name_o: x}),
                        strict=False):
            a, b = np.asarray(a), np.asarray(b)
            if a.shape != b.shape:
                differ += 1
                continue
            if a.size:
                d = float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))
                worst = d if worst is None else max(worst, d)
    return worst, differ


def latency(sess: Any, size: int, batch: int) -> float:
    """Median ms of one run on a random ``[batch, 3, size, size]`` input."""
    x = np.random.default_rng(0).random((batch, 3, size, size), dtype=np.float32)
    name = sess.get_inputs()[0].name
    sess.run(None, {name: x})
    times = []
    for _ in range(RUNS.get(batch, 3)):
        began = time.perf_counter()
        sess.run(None, {name: x})
        times.append((time.perf_counter() - began) * 1000.0)
    return float(statistics.median(times))
