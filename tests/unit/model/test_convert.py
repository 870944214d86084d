"""ONNX FP16, INT8 (calibrated) and Triton's config.pbtxt on a tiny CNN made here; TorchScript
made by tc_export and loaded back in a fresh process without the model's code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

from tcli.model import convert, measure
from tcli.model.export import Row, mark
from tcli.safety.modelfile import read_onnx
from tests.conftest import SCAFFOLDS
from tests.unit.model.tinyrun import SIZE, export_onnx, tiny_cnn

pytestmark = pytest.mark.unit


@pytest.fixture()
def onnx_file(tmp_path: Path) -> Path:
    return export_onnx(tiny_cnn(), tmp_path / "model.onnx")


def _x(n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 3, SIZE, SIZE), dtype=np.float32)


def test_onnx_matches_torch_and_fp16_is_close(onnx_file: Path) -> None:
    model, data = read_onnx(onnx_file)
    x = _x(4)
    expected = tiny_cnn()(torch.from_numpy(x)).detach().numpy()
    ref = measure.session(data)
    assert np.abs(ref.run(None, {"image": x})[0] - expected).max() <= 1e-5
    fp16 = convert.to_fp16(model)
    half = onnx.load_from_string(fp16)
    assert half.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT  # keep_io_types
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in half.graph.initializer)
    got = measure.session(fp16).run(None, {"image": x})[0]
    assert got.dtype == np.float32 and 0 < np.abs(got - expected).max() <= 1e-2
    diff, differ = measure.max_diff(ref, measure.session(fp16), [x])
    assert differ == 0 and diff == pytest.approx(float(np.abs(got - ref.run(None, {"image": x})[0]).max()))


def test_int8_is_quantised_with_the_calibration_batches(onnx_file: Path) -> None:
    _model, data = read_onnx(onnx_file)
    batches = [_x(1, seed) for seed in range(16)]
    int8 = convert.to_int8(data, "image", batches)
    ops = {n.op_type for n in onnx.load_from_string(int8).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    x = _x(8, 99)
    ref = measure.session(data).run(None, {"image": x})[0]
    got = measure.session(int8).run(None, {"image": x})[0]
    assert np.abs(got - ref).max() < 0.05  # probabilities of a calibrated 8-bit model
    assert (got.argmax(1) == ref.argmax(1)).mean() >= 0.75
    with pytest.raises(convert.ConvertFailed, match="no calibration images"):
        convert.to_int8(data, "image", [])


def test_triton_config_parses_back_with_tritons_protobuf(onnx_file: Path) -> None:
    model, _data = read_onnx(onnx_file)
    text = convert.triton_text(convert.triton_config(model, "cls", max_batch_size=32))
    parsed = text_format.Parse(text, mc.ModelConfig())
    assert parsed.name == "cls" and parsed.platform == "onnxruntime_onnx"
    assert parsed.max_batch_size == 32 and parsed.HasField("dynamic_batching")
    assert [(i.name, mc.DataType.Name(i.data_type), list(i.dims)) for i in parsed.input] == \
        [("image", "TYPE_FP32", [3, SIZE, SIZE])]
    assert [(o.name, mc.DataType.Name(o.data_type), list(o.dims)) for o in parsed.output] == \
        [("probs", "TYPE_FP32", [3])]


def test_triton_config_without_a_batch_axis(tmp_path: Path) -> None:
    model, _ = read_onnx(export_onnx(tiny_cnn(), tmp_path / "fixed.onnx", dynamic=False))
    parsed = text_format.Parse(convert.triton_text(convert.triton_config(model, "fixed")),
                               mc.ModelConfig())
    assert parsed.max_batch_size == 0 and not parsed.HasField("dynamic_batching")
    assert list(parsed.input[0].dims) == [1, 3, SIZE, SIZE]
    dyn, _ = read_onnx(export_onnx(tiny_cnn(), tmp_path / "dyn.onnx"))
    forced = convert.triton_config(dyn, "det", batching=False)  # first axis is not the batch
    assert forced.max_batch_size == 0 and list(forced.input[0].dims) == [-1, 3, SIZE, SIZE]


def test_a_metric_drop_beyond_the_tolerance_is_marked_not_hidden() -> None:
    base = Row("onnx", metric=0.90)
    rows = [base, Row("onnx-fp16", metric=0.89), Row("onnx-int8", metric=0.80), Row("triton")]
    mark(rows, base, "accuracy", 0.02)
    assert [r.status for r in rows] == ["ok", "ok", "marked", "ok"]
    assert rows[2].delta == pytest.approx(-0.10) and "0.100 below the original" in rows[2].note


def _tc_export(tmp_path: Path):  # type: ignore[no-untyped-def]
    import importlib.util

    spec = importlib.util.spec_from_file_location("tc_export_t", SCAFFOLDS / "project" / "export"
                                                  / "export.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_torchscript_loads_back_in_a_fresh_process_without_the_model_code(tmp_path: Path) -> None:
    tc_export = _tc_export(tmp_path)
    target = tmp_path / "model.torchscript"
    verdict = tc_export.export_torchscript(tiny_cnn(), target, torch.rand(1, 3, SIZE, SIZE))
    assert verdict["ok"] and verdict["fresh_process"] and verdict["max_abs_diff"] <= 1e-6
    assert json.loads((tmp_path / "model.torchscript.json").read_text())["ok"] is True
    x = _x(2, 5)
    np.save(tmp_path / "x.npy", x)
    prog = ("import json, sys, numpy as np, torch; m = torch.jit.load(sys.argv[1]); "
            "print(json.dumps(m(torch.from_numpy(np.load(sys.argv[2]))).detach().numpy().tolist()))")
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = subprocess.run([sys.executable, "-I", "-c", prog, str(target), str(tmp_path / "x.npy")],
                          cwd=empty, capture_output=True, text=True, timeout=300, check=True)
    got = np.asarray(json.loads(proc.stdout), np.float32)
    assert np.abs(got - tiny_cnn()(torch.from_numpy(x)).detach().numpy()).max() <= 1e-6


class _Untraceable(torch.nn.Module):
    def forward(self, x: torch.Tensor, *rest: torch.Tensor) -> torch.Tensor:  # *rest: no script
        if float(x.mean()) > 0.7:  # data-dependent: the trace bakes in the sample's branch
            return x * 2
        return x - 1


def test_a_torchscript_that_does_not_match_leaves_no_file(tmp_path: Path) -> None:
    tc_export = _tc_export(tmp_path)
    target = tmp_path / "model.torchscript"
    verdict = tc_export.export_torchscript(_Untraceable(), target, torch.full((1, 3, 4, 4), 0.9))
    assert verdict["ok"] is False and verdict["method"] == "trace"
    assert not target.exists() and not (tmp_path / "model.torchscript.tmp").exists()
    assert "max abs diff" in verdict["reason"]


def test_every_export_format_is_a_suffix_the_platform_accepts() -> None:
    from tcli.contract import EXPORT_FORMATS, MODEL_EXTENSIONS, TRITON_PLATFORMS
    from tcli.model.export import ALL

    assert set(ALL) == set(EXPORT_FORMATS)
    assert set(EXPORT_FORMATS.values()) <= set(MODEL_EXTENSIONS)
    assert set(TRITON_PLATFORMS) == set(MODEL_EXTENSIONS)
    # Triton's backend names (model_config.proto's "platform" strings)
    assert {p for p, _ in TRITON_PLATFORMS.values()} == {
        "onnxruntime_onnx", "pytorch_libtorch", "tensorrt_plan", "tensorflow_graphdef"}
