"""The report's PNGs (matplotlib, Agg backend; one function per figure, each returns the file)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from tcli.report.predict import DRAW_SCORE, Sample
from tcli.safety import atomic

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf"]


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic.atomic_open(path) as fh:
            fig.savefig(fh, format="png", dpi=100, bbox_inches="tight")
    finally:
        _plt().close(fig)
    return path


def curves(epochs: list[dict[str, Any]], path: Path) -> Path:
    """Loss (train and val) and the task metric per epoch."""
    plt = _plt()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    xs = [e["epoch"] for e in epochs]

    def series(key: str) -> tuple[list[int], list[float]]:
        pts = [(e["epoch"], float(e[key])) for e in epochs if isinstance(e.get(key), int | float)]
        return [p[0] for p in pts], [p[1] for p in pts]

    marker = "o" if len(xs) < 30 else None
    for key, label in (("loss", "train loss"), ("val_loss", "val loss")):
        x, y = series(key)
        if x:
            left.plot(x, y, marker=marker, label=label)
    left.set_title("loss per epoch")
    left.set_xlabel("epoch")
    if left.lines:
        left.legend()
    else:
        left.text(0.5, 0.5, "no loss recorded", ha="center", va="center", transform=left.transAxes)
    name = next((str(e.get("metric_name")) for e in epochs if e.get("metric_name")), "metric")
    x, y = series("metric")
    if x:
        right.plot(x, y, marker=marker, color="#2ca02c")
    right.set_title(f"{name} per epoch (val)")
    right.set_xlabel("epoch")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        if xs:
            ax.set_xticks(xs if len(xs) <= 20 else xs[:: max(1, len(xs) // 10)])
    return _save(fig, path)


def confusion_matrix(m: np.ndarray, names: list[str], path: Path) -> Path:
    plt = _plt()
    k = len(names)
    fig, ax = plt.subplots(figsize=(1.2 + 0.7 * k + 2, 1.0 + 0.7 * k + 1))
    ax.imshow(m, cmap="Blues")
    ax.set_xticks(range(k), names, rotation=45, ha="right")
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted (ONNX model)")
    ax.set_ylabel("true")
    top = m.max() if m.size else 0
    for i in range(k):
        for j in range(k):
            ax.text(j, i, str(int(m[i, j])), ha="center", va="center",
                    color="white" if top and m[i, j] > top / 2 else "black")
    ax.set_title(f"confusion matrix ({int(m.sum())} val images)")
    return _save(fig, path)


def per_class_bars(names: list[str], groups: dict[str, list[float | None]], title: str,
                   path: Path) -> Path:
    """Grouped bars per class (None = not defined, drawn as 'n/a')."""
    plt = _plt()
    k, g = len(names), max(1, len(groups))
    fig, ax = plt.subplots(figsize=(max(5.0, 1.1 * k * g + 2), 3.6))
    width = 0.8 / g
    for gi, (label, values) in enumerate(groups.items()):
        xs = np.arange(k) + (gi - (g - 1) / 2) * width
        ys = [v if v is not None else 0.0 for v in values]
        bars = ax.bar(xs, ys, width, label=label, color=PALETTE[gi % len(PALETTE)])
        for bar, v in zip(bars, values, strict=True):
            ax.text(bar.get_x() + bar.get_width() / 2, (v or 0) + 0.02,
                    "n/a" if v is None else f"{v:.2f}", ha="center", fontsize=8)
    ax.set_xticks(range(k), names, rotation=30 if k > 6 else 0, ha="right" if k > 6 else "center")
    ax.set_ylim(0, 1.12)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    if g > 1:
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _save(fig, path)


def pr_curves(names: list[str], det: dict[str, Any], path: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    for i, name in enumerate(names):
        recall, precision = det["curves"][i]
        if recall:
            ap = det["ap"][i]
            ax.step(recall, precision, where="post", color=PALETTE[i % len(PALETTE)],
                    label=f"{name} (AP {ap:.2f})")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title("precision-recall at IoU 0.5 (ONNX model)")
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(loc="lower left", fontsize=8)
    return _save(fig, path)


def _load(sample: Sample) -> np.ndarray:
    from PIL import Image

    with Image.open(sample.path) as im:
        return np.asarray(im.convert("RGB"))


def grid(task: str, samples: list[Sample], names: list[str], path: Path, limit: int = 12) -> Path:
    """Val images with ground truth (green) and the ONNX model's predictions drawn over them."""
    plt = _plt()
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Rectangle

    if task in ("classification", "sklearn"):  # the mistakes first: they are what one looks for
        samples = sorted(samples, key=lambda s: s.label == s.pred_label)
    shown = samples[:limit]
    cols = min(4, max(1, len(shown)))
    rows = max(1, math.ceil(len(shown) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.5 * rows), squeeze=False)
    cmap = ListedColormap([(0, 0, 0, 0)] + [PALETTE[i % len(PALETTE)] for i in range(len(names))])
    for ax in axes.flat:
        ax.axis("off")
    for ax, s in zip(axes.flat, shown, strict=False):
        ax.imshow(_load(s))
        name = s.path.name if len(s.path.name) <= 28 else s.path.name[:25] + "..."
        if task in ("classification", "sklearn"):
            truth = names[s.label] if s.label is not None else "?"
            pred = names[s.pred_label] if s.pred_label is not None and s.pred_label < len(names) else "?"
            ok = s.label == s.pred_label
            ax.set_title(f"{name}\ntruth {truth} | pred {pred} ({s.pred_prob or 0:.2f})",
                         fontsize=8, color="#1b7a2f" if ok else "#c62828")
        elif task == "detection":
            for (x1, y1, x2, y2) in s.boxes:
                ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, ec="#00c853",
                                       lw=2, ls="--"))
            keep = s.pred_scores >= DRAW_SCORE
            for (x1, y1, x2, y2), sc, lab in zip(s.pred_boxes[keep], s.pred_scores[keep],
                                                  s.pred_box_labels[keep], strict=True):
                ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, ec="#ff1744", lw=1.5))
                label = names[lab] if 0 <= lab < len(names) else str(lab)
                ax.text(x1, y1, f"{label} {sc:.2f}", fontsize=7, color="white", va="bottom",
                        bbox={"facecolor": "#ff1744", "alpha": 0.8, "pad": 1, "lw": 0})
            ax.set_title(f"{name}\n{len(s.boxes)} true (green) | {int(keep.sum())} predicted (red)",
                         fontsize=8)
        else:
            if s.pred_mask is not None:
                ax.imshow(s.pred_mask, cmap=cmap, vmin=0, vmax=len(names), alpha=0.45,
                          interpolation="nearest")
            if s.truth_mask is not None and s.truth_mask.any():
                ax.contour(s.truth_mask > 0, levels=[0.5], colors="#00c853", linewidths=1.5)
            ax.set_title(f"{name}\ntruth outline (green) | prediction (fill)", fontsize=8)
    if not shown:
        axes.flat[0].text(0.5, 0.5, "no val images", ha="center", va="center")
    fig.suptitle("validation images: ground truth and the exported ONNX model's predictions",
                 fontsize=10)
    return _save(fig, path)
