"""tc report on real (short) runs of the three torchvision templates; slow (minutes of CPU training)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tcli.report.core import write_report
from tests.unit.report.runs import trained_project
from tests.unit.report.test_report import referenced_files_exist

pytest.importorskip("torch")
pytestmark = [pytest.mark.scaffold, pytest.mark.slow]  # renders a project and trains it
#: What the report needs is a trained model and its metrics, not a good one: two epochs give
#: the per-epoch curves (a line, not a point) in a third of the time six took.
EPOCHS = {"classification": 2, "detection": 2, "segmentation": 2}


@pytest.mark.parametrize("template", sorted(EPOCHS))
def test_report_of_a_torch_template(template: str, tmp_path: Path) -> None:
    project, datasets = trained_project(tmp_path, template, epochs=EPOCHS[template])
    metrics = json.loads((project / ".tc" / "train" / "metrics.json").read_text())
    run_val = json.loads((datasets / "labels" / "val" / "labels.json").read_text())
    result = write_report(project)
    data = result.data
    assert data["model"]["status"] == "ok", data["model"]
    assert data["classes"] == ["circle", "square", "triangle"]
    assert data["onnx_parity"]["max_abs_diff"] == metrics["onnx_max_abs_diff"]
    assert "grid.png" in data["images"] and "per_class.png" in data["images"]
    referenced_files_exist(result.path)
    if template == "classification":
        m = np.asarray(data["classification"]["confusion"])
        assert int(m.sum()) == metrics["val_images"] == data["val"]["images"]
        assert data["classification"]["accuracy"] == pytest.approx(metrics["accuracy"], abs=1 / m.sum())
        assert "confusion.png" in data["images"]
    elif template == "detection":
        assert data["val"]["images"] == len(run_val["images"])
        det = data["detection"]
        assert len(det["ap50"]) == 3 and "pr.png" in data["images"]
        assert sum(det["ground_truth_boxes"]) == sum(1 for a in run_val["annotations"] if a.get("bbox"))
        assert all(a is None or 0.0 <= a <= 1.0 for a in det["ap50"])
    else:
        seg = data["segmentation"]
        assert data["val"]["images"] == len(run_val["images"])
        assert seg["classes"] == ["background", "circle", "square", "triangle"]
        assert seg["iou"][0] is not None and 0.0 < seg["iou"][0] <= 1.0
