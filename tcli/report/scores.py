"""The report's numbers, computed from the ONNX model's predictions on the val split (numpy only).

* classification / sklearn: confusion matrix (rows = truth, columns = prediction), per-class
  precision and recall;
* detection: per-class average precision at IoU 0.5 (all-point interpolation, as COCO/VOC) and
  the precision-recall curve of every class;
* segmentation: per-class IoU over all val pixels (background = class 0 included).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tcli.report.predict import Sample, gt_mask


def confusion(samples: list[Sample], k: int) -> np.ndarray:
    m = np.zeros((k, k), np.int64)
    for s in samples:
        if s.label is not None and s.pred_label is not None and 0 <= s.pred_label < k:
            m[s.label, s.pred_label] += 1
    return m


def precision_recall(m: np.ndarray) -> tuple[list[float | None], list[float | None]]:
    tp = np.diag(m).astype(float)
    pred, true = m.sum(axis=0), m.sum(axis=1)
    precision = [float(tp[i] / pred[i]) if pred[i] else None for i in range(len(tp))]
    recall = [float(tp[i] / true[i]) if true[i] else None for i in range(len(tp))]
    return precision, recall


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)))
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def detection_ap(samples: list[Sample], k: int, iou: float = 0.5) -> dict[str, Any]:
    """Per-class AP@iou and PR curves: ``{"ap": [...], "curves": [(recall, precision)], "gt": [...]}``."""
    aps: list[float | None] = []
    curves: list[tuple[list[float], list[float]]] = []
    gts: list[int] = []
    for c in range(k):
        n_gt = 0
        found: list[tuple[float, int]] = []  # (score, is true positive)
        for s in samples:
            gt = s.boxes[s.box_labels == c]
            n_gt += len(gt)
            keep = s.pred_box_labels == c
            boxes, scores = s.pred_boxes[keep], s.pred_scores[keep]
            order = np.argsort(-scores, kind="stable")
            used = np.zeros(len(gt), bool)
            ious = iou_matrix(boxes[order], gt)
            for row, idx in enumerate(order):
                hit = 0
                if len(gt):
                    cand = np.where(~used, ious[row], -1.0)
                    j = int(cand.argmax())
                    if cand[j] >= iou:
                        used[j], hit = True, 1
                found.append((float(scores[idx]), hit))
        gts.append(n_gt)
        if n_gt == 0:
            aps.append(None)
            curves.append(([], []))
            continue
        found.sort(key=lambda t: -t[0])
        hits = np.asarray([h for _, h in found], float)
        tp, fp = np.cumsum(hits), np.cumsum(1 - hits)
        recall = tp / n_gt if len(hits) else np.zeros(0)
        precision = tp / np.maximum(tp + fp, 1e-12) if len(hits) else np.zeros(0)
        r = np.concatenate([[0.0], recall, [1.0]])
        p = np.concatenate([[1.0], precision, [0.0]])
        for i in range(len(p) - 2, -1, -1):
            p[i] = max(p[i], p[i + 1])
        steps = np.where(r[1:] != r[:-1])[0]
        aps.append(float(np.sum((r[steps + 1] - r[steps]) * p[steps + 1])))
        curves.append((recall.tolist(), precision.tolist()))
    return {"ap": aps, "curves": curves, "gt": gts}


def segmentation_iou(samples: list[Sample], categories: list[dict[str, Any]] | None,
                     k: int) -> dict[str, Any]:
    """Per-class IoU over all val pixels; classes absent from truth and prediction get None."""
    class_of = {c["id"]: i + 1 for i, c in enumerate(categories or [])}
    inter = np.zeros(k + 1, np.int64)
    union = np.zeros(k + 1, np.int64)
    for s in samples:
        if s.pred_mask is None:
            continue
        truth = gt_mask(s, class_of)
        s.truth_mask = truth  # reused by the grid
        for c in range(k + 1):
            t, p = truth == c, s.pred_mask == c
            inter[c] += int(np.logical_and(t, p).sum())
            union[c] += int(np.logical_or(t, p).sum())
    ious = [float(inter[c] / union[c]) if union[c] else None for c in range(k + 1)]
    present = [v for v in ious if v is not None]
    return {"iou": ious, "miou": float(np.mean(present)) if present else None}
