"""Detection scoring (AP@0.5, PR curves) and the detection report path with a real ONNX file.

Training the Faster R-CNN template takes many CPU minutes (test_report_torch.py, slow); here an
ONNX graph with the template's output contract (boxes, scores, labels) answers fixed boxes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tcli.datasets.demo import write_demo_dataset
from tcli.report.core import write_report
from tcli.report.predict import Sample
from tcli.report.scores import detection_ap
from tests.conftest import copy_project
from tests.unit.report.runs import write_split
from tests.unit.report.test_report import referenced_files_exist


def _sample(gt: list[list[float]], gl: list[int], pb: list[list[float]], ps: list[float],
            pl: list[int]) -> Sample:
    s = Sample(Path("x.png"), {"id": 1, "width": 100, "height": 100})
    s.boxes, s.box_labels = np.asarray(gt, np.float32).reshape(-1, 4), np.asarray(gl, np.int64)
    s.pred_boxes = np.asarray(pb, np.float32).reshape(-1, 4)
    s.pred_scores, s.pred_box_labels = np.asarray(ps, np.float32), np.asarray(pl, np.int64)
    return s


def test_ap_perfect_missing_and_ranked() -> None:
    gt = [[10, 10, 30, 30], [50, 50, 90, 90]]
    perfect = _sample(gt, [0, 1], gt, [0.9, 0.8], [0, 1])
    assert detection_ap([perfect], 3)["ap"] == [1.0, 1.0, None]
    none = _sample(gt, [0, 1], [], [], [])
    assert detection_ap([none], 2)["ap"] == [0.0, 0.0]
    # a confident false positive ranked above the true positive: precision 1/2 at recall 1
    ranked = _sample(gt[:1], [0], [[60, 60, 80, 80], gt[0]], [0.9, 0.5], [0, 0])
    assert detection_ap([ranked], 1)["ap"] == [pytest.approx(0.5)]
    # the true positive first: AP 1 despite the later false positive
    ranked.pred_scores = np.asarray([0.5, 0.9], np.float32)
    assert detection_ap([ranked], 1)["ap"] == [pytest.approx(1.0)]
    # a box of the wrong class or below IoU 0.5 is no hit
    off = _sample(gt[:1], [0], [[20, 20, 40, 40]], [0.9], [0])
    assert detection_ap([off], 1)["ap"] == [0.0]


def _fixed_detector(path: Path, size: int, boxes: np.ndarray, scores: np.ndarray,
                    labels: np.ndarray) -> None:
    import onnx
    from onnx import TensorProto, helper

    nodes = [helper.make_node("Shape", ["images"], ["shape"]),
             helper.make_node("Identity", ["b"], ["boxes"]),
             helper.make_node("Identity", ["s"], ["scores"]),
             helper.make_node("Identity", ["l"], ["labels"])]
    graph = helper.make_graph(
        nodes, "fixed",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [len(boxes), 4]),
         helper.make_tensor_value_info("scores", TensorProto.FLOAT, [len(boxes)]),
         helper.make_tensor_value_info("labels", TensorProto.INT64, [len(boxes)])],
        [helper.make_tensor("b", TensorProto.FLOAT, [len(boxes), 4], boxes.reshape(-1).tolist()),
         helper.make_tensor("s", TensorProto.FLOAT, [len(boxes)], scores.tolist()),
         helper.make_tensor("l", TensorProto.INT64, [len(boxes)], labels.tolist())])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))


@pytest.mark.scaffold
def test_detection_report_from_an_onnx_file(tmp_path: Path) -> None:
    project = copy_project("detection", tmp_path / "project")
    write_demo_dataset(project / ".tc" / "minio", "detection", seed=1, dataset_id=1, images=30)
    train = project / ".tc" / "train"
    train.mkdir(parents=True)
    size = 96  # the template's img-size default
    _fixed_detector(train / "model.onnx", size, np.asarray([[10, 10, 40, 40], [50, 50, 90, 90]],
                    np.float32), np.asarray([0.9, 0.3], np.float32), np.asarray([1, 3], np.int64))
    write_split(project, "detection", tmp_path / "datasets")  # what the container writes
    result = write_report(project)
    data = result.data
    assert data["model"]["status"] == "ok", data["model"]
    det = data["detection"]
    assert len(det["ap50"]) == 3 and all(a is None or 0.0 <= a <= 1.0 for a in det["ap50"])
    assert {"per_class.png", "pr.png", "grid.png"} <= set(data["images"])
    referenced_files_exist(result.path)
    # every val image got the file's two boxes (scaled back to the image) — the file was used
    with_boxes = sum(det["ground_truth_boxes"])
    assert with_boxes > 0
    report = json.loads((result.path.parent / "report.json").read_text())
    assert report["val"]["images"] == data["val"]["images"] > 0
