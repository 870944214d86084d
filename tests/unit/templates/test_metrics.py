"""The templates' metric wiring (torchmetrics / scikit-learn) on hand-made predictions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
import torch

from .conftest import cpu_run

Loader = Callable[[str], ModuleType]
Tiny = Callable[[str], Path]


def test_classification_accuracy_and_macro_f1(load_train: Loader) -> None:
    train = load_train("classification")
    t = torch.tensor([0, 0, 1, 1, 2, 2])
    assert train.classification_metrics(t.clone(), t, 3) == (1.0, 1.0)
    acc, f1 = train.classification_metrics(torch.tensor([0, 0, 1, 1, 2, 0]), t, 3)
    assert acc == pytest.approx(5 / 6)
    # per class F1: 0.8, 1.0, 0.6667 -> macro 0.8222
    assert f1 == pytest.approx((0.8 + 1.0 + 2 / 3) / 3, abs=1e-4)


def test_class_missing_from_val_is_not_averaged_in(load_train: Loader) -> None:
    train = load_train("classification")
    # class 2 is neither in the targets nor predicted: macro-F1 over classes 0 and 1
    acc, f1 = train.classification_metrics(torch.tensor([0, 1, 1]), torch.tensor([0, 1, 0]), 3)
    assert acc == pytest.approx(2 / 3)
    assert f1 == pytest.approx((2 / 3 + 2 / 3) / 2, abs=1e-4)


def test_single_class_and_empty(load_train: Loader) -> None:
    train = load_train("classification")
    assert train.classification_metrics(torch.zeros(4, dtype=torch.long),
                                        torch.zeros(4, dtype=torch.long), 1) == (1.0, 1.0)
    empty = torch.zeros(0, dtype=torch.long)
    assert train.classification_metrics(empty, empty, 3) == (0.0, 0.0)


class _FixedSegmenter(torch.nn.Module):
    """Returns logits that make ``pred`` the argmax, like torchvision's ``{"out": ...}``."""

    def __init__(self, pred: torch.Tensor, classes: int) -> None:
        super().__init__()
        self.pred = pred
        self.classes = classes

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        onehot = torch.nn.functional.one_hot(self.pred[: x.shape[0]], self.classes)
        return {"out": onehot.permute(0, 3, 1, 2).float()}


def test_segmentation_miou(load_train: Loader) -> None:
    train = load_train("segmentation")
    target = torch.zeros(1, 4, 4, dtype=torch.long)
    target[0, :2, :2] = 1  # 4 pixels of class 1
    pred = torch.zeros(1, 4, 4, dtype=torch.long)
    pred[0, :2, :1] = 1  # 2 of them found
    loader = [(torch.zeros(1, 3, 4, 4, dtype=torch.uint8), target)]
    run = cpu_run()
    miou, per_class = train.evaluate(run, _FixedSegmenter(pred, 4), loader, train.ToInput(run), 4)
    # background IoU 12/14, class 1 IoU 2/4; classes 2, 3 absent -> ignored in the mean
    assert miou == pytest.approx((12 / 14 + 0.5) / 2, abs=1e-4)
    assert per_class[:2] == pytest.approx([12 / 14, 0.5], abs=1e-4)
    perfect, _ = train.evaluate(run, _FixedSegmenter(target, 4), loader, train.ToInput(run), 4)
    assert perfect == pytest.approx(1.0)


class _FixedDetector(torch.nn.Module):
    def __init__(self, outputs: list[dict[str, torch.Tensor]]) -> None:
        super().__init__()
        self.outputs = outputs

    def forward(self, images: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        return self.outputs[: len(images)]


def test_detection_map50(load_train: Loader) -> None:
    train = load_train("detection")
    gt = [dict(boxes=torch.tensor([[10.0, 10.0, 30.0, 30.0]]), labels=torch.tensor([1])),
          dict(boxes=torch.tensor([[5.0, 5.0, 15.0, 25.0]]), labels=torch.tensor([2]))]
    images = torch.zeros(2, 3, 40, 40, dtype=torch.uint8)
    loader = [(images, gt)]
    exact = [dict(g, scores=torch.tensor([0.9])) for g in gt]
    map50, _ = train.evaluate(cpu_run(), _FixedDetector(exact), loader)
    assert map50 == pytest.approx(1.0)
    # IoU of the first prediction is 20x15 / 20x20 = 0.75 (> 0.5); the second has the wrong class
    shifted = [dict(boxes=torch.tensor([[10.0, 15.0, 30.0, 30.0]]), labels=torch.tensor([1]),
                    scores=torch.tensor([0.9])),
               dict(boxes=torch.tensor([[5.0, 5.0, 15.0, 25.0]]), labels=torch.tensor([1]),
                    scores=torch.tensor([0.8]))]
    map50, _ = train.evaluate(cpu_run(), _FixedDetector(shifted), loader)
    # class 1: one TP ranked first, one FP -> AP 1.0; class 2: missed -> AP 0
    assert map50 == pytest.approx(0.5, abs=1e-3)
    nothing = [dict(boxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long),
                    scores=torch.zeros(0))] * 2
    map50, _ = train.evaluate(cpu_run(), _FixedDetector(nothing), loader)
    assert map50 == 0.0


def test_sklearn_end_to_end_on_tiny(load_train: Loader, tiny: Tiny, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    """Tiny fixture: train has circles and squares, val only triangles (a class unseen in
    training): accuracy 0, and the run still writes a verified ONNX model."""
    train = load_train("sklearn")
    root = tiny("classification")
    rc = train.main(["--images-dir", str(root / "images"), "--labels-dir", str(root / "labels"),
                     "--output-dir", str(tmp_path / "out"), "--img-size", "8"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "Test metric  Accuracy  0.0000" in out
    import json
    import re

    from tests.unit.templates.conftest import VARIANTS

    custom = json.loads((VARIANTS / "sklearn" / "config" / "custom.json").read_text())
    match = re.search(custom["score_regexp"], out)
    assert match and match.group(1) == "0.0000"
    assert (tmp_path / "out" / "model.onnx").is_file()
