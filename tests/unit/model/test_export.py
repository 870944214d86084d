"""tc model export end to end on a tiny run (a test-made CNN as the run's model.onnx)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

from tcli.errors import InputError
from tcli.model.export import export_formats
from tcli.safety.modelfile import read_onnx
from tests.unit.model.tinyrun import SIZE, tiny_run

pytestmark = pytest.mark.unit


def test_every_format_is_made_measured_and_recorded(tmp_path: Path) -> None:
    project = tiny_run(tmp_path)
    result = export_formats(project)
    rows = {r.format: r for r in result.rows}
    assert list(rows) == ["onnx", "onnx-fp16", "onnx-int8", "torchscript", "triton", "tensorrt"]
    assert result.task == "classification" and result.metric == "accuracy"
    assert result.val_images > 0 and 0 < result.calibration_images <= 64
    base = rows["onnx"]
    assert base.metric is not None and base.max_abs_diff == 0.0 and base.delta == 0.0
    assert base.file == str(project / ".tc" / "train" / "model.onnx")  # model_filepath stays
    for fmt in ("onnx-fp16", "onnx-int8"):
        row = rows[fmt]
        assert row.status in ("ok", "marked") and row.file and Path(row.file).is_file()
        assert row.metric is not None and row.delta is not None
        assert row.max_abs_diff is not None and row.size and row.size > 0
        assert row.latency_ms_b1 and row.latency_ms_b32 and row.latency_ms_b32 > 0
        read_onnx(Path(row.file))  # passes the checker, loads
    assert rows["onnx-fp16"].max_abs_diff <= 1e-2  # type: ignore[operator]
    assert rows["torchscript"].status == "image" and "TC_EXPORT_TORCHSCRIPT=1" in rows["torchscript"].note
    assert rows["tensorrt"].status == "command" and "trtexec --onnx=/m/model.onnx" in rows["tensorrt"].note
    assert f"--maxShapes=image:32x3x{SIZE}x{SIZE}" in rows["tensorrt"].note
    formats = project / ".tc" / "train" / "formats"
    repo = Path(rows["triton"].file or "")
    assert repo.parent == formats / "triton"
    cfg = text_format.Parse((repo / "config.pbtxt").read_text(), mc.ModelConfig())
    assert cfg.name == repo.name and cfg.max_batch_size == 32
    assert (repo / "1" / "model.onnx").read_bytes() == (project / ".tc/train/model.onnx").read_bytes()
    record = json.loads((formats / "formats.json").read_text())
    assert [r["format"] for r in record["rows"]] == list(rows)
    assert set(record["files"]) == {"model.fp16.onnx", "model.int8.onnx",
                                    f"triton/{repo.name}/1/model.onnx", f"triton/{repo.name}/config.pbtxt"}
    again = export_formats(project, to=("onnx-fp16",))  # tc's own files are replaced
    assert [r.format for r in again.rows] == ["onnx", "onnx-fp16"]


def test_a_file_tc_did_not_write_is_kept(tmp_path: Path) -> None:
    project = tiny_run(tmp_path)
    mine = project / ".tc" / "train" / "formats" / "model.fp16.onnx"
    mine.parent.mkdir(parents=True)
    mine.write_bytes(b"my own notes")
    with pytest.raises(InputError, match="was not written by tc model export"):
        export_formats(project, to=("onnx-fp16",))
    assert mine.read_bytes() == b"my own notes"


def test_unknown_format_and_missing_run(tmp_path: Path) -> None:
    project = tiny_run(tmp_path)
    with pytest.raises(InputError, match="--to 'keras' is not a format"):
        export_formats(project, to=("keras",))
    (project / ".tc" / "train" / "model.onnx").unlink()
    with pytest.raises(InputError, match="no model"):
        export_formats(project, to=("onnx",))


def test_the_report_shows_the_table_escaped(tmp_path: Path) -> None:
    from tcli.report.core import write_report

    project = tiny_run(tmp_path)
    export_formats(project, to=("onnx-fp16",))
    record = project / ".tc" / "train" / "formats" / "formats.json"
    data = json.loads(record.read_text())
    data["rows"][1]["note"] = "<script>alert(1)</script>"
    data["rows"][1]["metric"] = "NaN"  # not a number: shown as n/a
    record.write_text(json.dumps(data))
    result = write_report(project)
    rows = result.data["formats"]["rows"]
    assert [r["format"] for r in rows] == ["onnx", "onnx-fp16"] and rows[1]["metric"] is None
    page = result.path.read_text()
    assert "Model formats (tc model export)" in page and "<script>alert" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
