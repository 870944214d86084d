"""train.main on the tiny fixture: single-class datasets, a class missing from val, an empty
val split, grayscale/RGBA inputs — each run ends with a score line and a verified ONNX file."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from tests.unit.templates.conftest import VARIANTS

Loader = Callable[[str], ModuleType]
Tiny = Callable[[str], Path]
FAST = {
    "classification": ["--epochs", "2", "--img-size", "32", "--batch-size", "2"],
    "segmentation": ["--epochs", "1", "--img-size", "32", "--batch-size", "2"],
    "detection": ["--epochs", "1", "--img-size", "32", "--batch-size", "2"],
}
TASK = {"classification": "classification", "segmentation": "segmentation",
        "detection": "detection"}

pytestmark = pytest.mark.slow  # every test here trains a template for an epoch or two


def _single_class(root: Path) -> None:
    for split in ("train", "val"):
        path = root / "labels" / split / "labels.json"
        coco = json.loads(path.read_text())
        coco["categories"] = coco["categories"][:1]
        for ann in coco["annotations"]:
            ann["category_id"] = 1
        path.write_text(json.dumps(coco))


def _run(train: ModuleType, template: str, root: Path, out: Path,
         capsys: pytest.CaptureFixture[str]) -> str:
    rc = train.main(["--images-dir", str(root / "images"), "--labels-dir", str(root / "labels"),
                     "--output-dir", str(out), *FAST[template]])
    log = capsys.readouterr().out
    assert rc == 0, log
    custom = json.loads((VARIANTS / template / "config" / "custom.json").read_text())
    assert len(re.findall(custom["score_regexp"], log)) == 1, log
    metrics = json.loads((out / "metrics.json").read_text())
    assert (out / "model.onnx").is_file()
    assert metrics["onnx_max_abs_diff"] is not None and metrics["onnx_max_abs_diff"] <= 1e-4
    return log


@pytest.mark.parametrize("template", ["classification", "segmentation", "detection"])
def test_class_missing_from_val(load_train: Loader, tiny: Tiny, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str], template: str) -> None:
    # the tiny split: train holds circles and squares (one grayscale, one RGBA), val triangles
    root = tiny(TASK[template])
    log = _run(load_train(template), template, root, tmp_path / "out", capsys)
    assert "3 classes" in log or "4 classes" in log


@pytest.mark.parametrize("template", ["classification", "segmentation", "detection"])
def test_single_class(load_train: Loader, tiny: Tiny, tmp_path: Path,
                      capsys: pytest.CaptureFixture[str], template: str) -> None:
    root = tiny(TASK[template])
    _single_class(root)
    log = _run(load_train(template), template, root, tmp_path / "out", capsys)
    assert "classes: circle" in log or "classes: background, circle" in log
    if template == "classification":
        assert "Test metric  Accuracy  1.0000" in log


def test_empty_val_falls_back_to_train(load_train: Loader, tiny: Tiny, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    root = tiny("classification")
    path = root / "labels" / "val" / "labels.json"
    coco = json.loads(path.read_text())
    path.write_text(json.dumps(dict(coco, images=[], annotations=[])))
    log = _run(load_train("classification"), "classification", root, tmp_path / "out", capsys)
    assert "warning: the val split is empty; reporting metrics on the training split" in log


def test_sklearn_single_class_is_a_clear_error(load_train: Loader, tiny: Tiny, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    root = tiny("classification")
    _single_class(root)
    train = load_train("sklearn")
    rc = train.main(["--images-dir", str(root / "images"), "--labels-dir", str(root / "labels"),
                     "--output-dir", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("error: the training split has a single class (circle)")


def test_cpu_runs_are_deterministic(load_train: Loader, tiny: Tiny, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    root = tiny("classification")
    train = load_train("classification")
    logs = []
    for i in range(2):
        log = _run(train, "classification", root, tmp_path / f"out{i}", capsys)
        logs.append([re.sub(r"\s+\d+ img/s\s+data_wait [\d.]+%", "", ln)
                     for ln in log.splitlines() if ln.startswith(("epoch", "Test metric"))])
    assert logs[0] == logs[1] and len(logs[0]) == 4
