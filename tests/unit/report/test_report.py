"""tc report on a real run of the sklearn template (trained like tc dev-run lays it out)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from tcli.report.artifacts import load_run, val_split
from tcli.report.core import write_report
from tests.unit.report.runs import trained_project


@pytest.fixture(scope="module")
def sklearn_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return trained_project(tmp_path_factory.mktemp("report-sklearn"), "sklearn")


@pytest.fixture()
def project(sklearn_run: tuple[Path, Path], tmp_path: Path) -> Path:
    dst = tmp_path / "project"
    shutil.copytree(sklearn_run[0], dst, symlinks=True)
    return dst


def referenced_files_exist(index: Path) -> list[str]:
    """Every src/href of the page; asserts each names an existing file next to it."""
    refs = re.findall(r'(?:src|href)="([^"]+)"', index.read_text(encoding="utf-8"))
    for ref in refs:
        assert "://" not in ref and not ref.startswith("/") and ".." not in ref, ref
        assert (index.parent / ref).is_file(), f"index.html names {ref}, which does not exist"
    return refs


def test_confusion_matrix_sums_to_the_val_count(project: Path) -> None:
    metrics = json.loads((project / ".tc" / "train" / "metrics.json").read_text())
    result = write_report(project)
    cls = result.data["classification"]
    m = np.asarray(cls["confusion"])
    assert m.shape == (3, 3)
    assert int(m.sum()) == metrics["val_images"] == result.data["val"]["images"]
    # the ONNX model run on the host agrees with what train.py measured in the container
    assert cls["accuracy"] == pytest.approx(metrics["accuracy"])
    assert result.data["model"]["status"] == "ok"
    assert set(result.data["images"]) == {"curves.png", "confusion.png", "per_class.png", "grid.png"}
    refs = referenced_files_exist(result.path)
    assert sorted(refs) == sorted(result.data["images"])
    for name in result.data["images"]:
        assert (result.path.parent / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((result.path.parent / "report.json").read_text()) == json.loads(
        json.dumps(result.data))


def test_reproduced_val_split_is_the_runs(sklearn_run: tuple[Path, Path]) -> None:
    project, datasets = sklearn_run
    run_val = json.loads((datasets / "labels" / "val" / "labels.json").read_text())
    run = load_run(project)
    with val_split(run) as split:
        assert split is not None
        assert [i["file_name"] for i in split.coco["images"]] == \
            [i["file_name"] for i in run_val["images"]]
    assert not [p for p in (project / ".tc" / "report").glob(".split-*")], "temp split left"


def _constant_model(path: Path, features: int, winner: int) -> None:
    """An ONNX file that always answers class ``winner`` (probabilities one-hot)."""
    import onnx
    from onnx import TensorProto, helper

    bias = np.zeros(3, np.float32)
    bias[winner] = 1.0
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["features", "w"], ["z"]),
         helper.make_node("Add", ["z", "b"], ["probabilities"]),
         helper.make_node("ArgMax", ["probabilities"], ["label"], axis=1, keepdims=0)],
        "constant",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, [None, features])],
        [helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
         helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 3])],
        [helper.make_tensor("w", TensorProto.FLOAT, [features, 3], np.zeros(features * 3).tolist()),
         helper.make_tensor("b", TensorProto.FLOAT, [3], bias.tolist())])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))


def test_predictions_come_from_the_onnx_file(project: Path) -> None:
    metrics = json.loads((project / ".tc" / "train" / "metrics.json").read_text())
    _constant_model(project / ".tc" / "train" / "model.onnx", metrics["features"], winner=2)
    result = write_report(project)
    m = np.asarray(result.data["classification"]["confusion"])
    assert m[:, 2].sum() == m.sum() == metrics["val_images"], "every prediction is the file's class 2"
    assert result.data["classification"]["recall"] == [0.0, 0.0, 1.0]
    assert "grid.png" in result.data["images"]


def test_corrupt_onnx_is_reported_not_a_crash(project: Path) -> None:
    model = project / ".tc" / "train" / "model.onnx"
    model.write_bytes(model.read_bytes()[:300] + b"\x00garbage")
    result = write_report(project)
    assert result.data["model"]["status"] == "unusable"
    assert "could not be loaded by onnxruntime" in result.data["model"]["problem"]
    html = result.path.read_text()
    assert 'id="model-problem"' in html and "could not be loaded" in html
    assert "grid.png" not in result.data["images"] and "confusion.png" not in result.data["images"]
    assert "curves.png" in result.data["images"]  # the metrics part needs no model
    referenced_files_exist(result.path)
    assert not (result.path.parent / "grid.png").exists(), "a stale grid of an earlier report"


def test_without_metrics_jsonl_the_rest_is_still_there(project: Path) -> None:
    (project / ".tc" / "train" / "metrics.jsonl").unlink()
    result = write_report(project)
    assert result.data["metrics"] is None
    assert "curves.png" not in result.data["images"]
    assert {"confusion.png", "grid.png"} <= set(result.data["images"])
    assert "No metrics.jsonl" in result.path.read_text()
    referenced_files_exist(result.path)


def test_without_model_or_dataset(project: Path) -> None:
    shutil.rmtree(project / ".tc" / "minio")
    (project / ".tc" / "train" / "model.onnx").unlink()
    result = write_report(project)
    assert result.data["model"]["status"] == "missing"
    assert result.data["val"] is None
    assert result.data["images"] == ["curves.png"]
    referenced_files_exist(result.path)


def test_metrics_log_is_the_shared_spec(sklearn_run: tuple[Path, Path]) -> None:
    lines = (sklearn_run[0] / ".tc" / "train" / "metrics.jsonl").read_text().splitlines()
    epoch, final = (json.loads(line) for line in lines)
    assert set(epoch) == {"kind", "epoch", "epochs", "loss", "lr", "metric_name", "metric", "val_loss",
                          "images_per_s", "data_wait_share", "seconds"}
    assert (epoch["kind"], epoch["epoch"], epoch["epochs"], epoch["metric_name"]) == \
        ("epoch", 1, 1, "accuracy")
    assert set(final) == {"kind", "metric_name", "metric", "score", "epochs", "train_seconds",
                          "model_file", "world_size"}
    assert (final["kind"], final["model_file"], final["world_size"]) == ("final", "model.onnx", 1)
    assert final["score"] == final["metric"] == epoch["metric"]


def test_cli_json_and_summary_timings(project: Path) -> None:
    from typer.testing import CliRunner

    from tcli.cli import app

    summary = {"template": "Prov/Cat/Arch", "dataset_id": 1, "score": 0.95,
               "durations": {"build": 12.5, "setup": 1.25, "train": 7.0}}
    write_report(project, summary=summary)
    res = CliRunner().invoke(app, ["report", str(project), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["timings"]["build"] == 12.5 and data["timings"]["train"] == 7.0
    assert data["classification"]["images"] == data["val"]["images"]
    res = CliRunner().invoke(app, ["report", str(project)])
    assert res.exit_code == 0 and "report: " in res.output and "index.html (4 images)" in res.output
    res = CliRunner().invoke(app, ["report", str(project / "nope")])
    assert res.exit_code == 2 and "no such project folder" in res.output


def test_torch_style_metrics_log_gives_curves(project: Path) -> None:
    """Several epochs as the torch templates write them (STATUS.md spec), one broken line."""
    lines = [json.dumps({"kind": "epoch", "epoch": e, "epochs": 5, "loss": 1.0 / e, "lr": 0.001 * e,
                         "metric_name": "accuracy", "metric": 0.5 + e / 20, "val_loss": None,
                         "images_per_s": 100.0 + e, "data_wait_share": 0.1, "seconds": 2.0})
             for e in range(1, 6)]
    lines.insert(2, "{not json")
    lines.append(json.dumps({"kind": "final", "metric_name": "accuracy", "metric": 0.75, "score": 0.75,
                             "epochs": 5, "train_seconds": 11.0, "model_file": "model.onnx",
                             "world_size": 2}))
    (project / ".tc" / "train" / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    result = write_report(project)
    assert [e["epoch"] for e in result.data["metrics"]["epochs"]] == [1, 2, 3, 4, 5]
    assert result.data["metrics"]["final"]["world_size"] == 2
    assert result.data["timings"]["train_seconds_in_train_py"] == 11.0
    assert "metrics.jsonl: 1 line not a JSON object; skipped" in result.data["notes"]
    assert "curves.png" in result.data["images"]
    assert "last epoch 5/5" in result.path.read_text()


class _Events:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.warnings: list[str] = []

    def line(self, text: str, style: str | None = None) -> None:
        self.lines.append(text)

    def warn(self, text: str) -> None:
        self.warnings.append(text)


def test_dev_run_hook_one_line_and_never_raises(project: Path, tmp_path: Path) -> None:
    from dataclasses import dataclass, field

    from tcli.report.hook import report_after_run

    @dataclass
    class Summary:  # the fields of dev-run's Summary the report reads
        template: str = "Prov/Cat/Arch"
        dataset_id: int = 1
        score: float = 0.96
        durations: dict[str, float] = field(default_factory=lambda: {"build": 3.0, "setup": 1.0,
                                                                     "train": 5.0})

    events = _Events()
    path = report_after_run(project, Summary(), events)
    assert path is not None and path.is_file() and not events.warnings
    assert len(events.lines) == 1 and events.lines[0].startswith("report     ")
    assert "index.html" in events.lines[0]
    assert json.loads((project / ".tc" / "report" / "run.json").read_text())["durations"]["build"] == 3.0
    events = _Events()
    assert report_after_run(tmp_path / "not-a-project", Summary(), events) is None
    assert len(events.warnings) == 1 and events.warnings[0].startswith("report not written: InputError")
    assert not events.lines


def test_val_images_are_capped(project: Path) -> None:
    result = write_report(project, max_images=5)
    assert result.data["val"]["images"] == 5
    assert int(np.asarray(result.data["classification"]["confusion"]).sum()) == 5
    assert any("the ONNX model was run on the first 5" in n for n in result.data["notes"])
