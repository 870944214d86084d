"""Hostile model files under ``tc model export``: the run's model.onnx is someone else's file."""

from __future__ import annotations

import os
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from tests.hostile.conftest import Guard
from tests.hostile.harness import assert_clean_failure, tc
from tests.unit.model.tinyrun import tiny_run

MEM = 1 << 31  # prlimit --as=2G: reading a huge model into memory would fail the test


@pytest.fixture()
def run(tmp_path: Path) -> Path:
    return tiny_run(tmp_path)


def _export(proj: Path, *extra: str):  # type: ignore[no-untyped-def]
    return tc("model", "export", str(proj), *extra, cwd=proj.parent, timeout=300, mem_limit=MEM)


def _model(proj: Path) -> Path:
    return proj / ".tc" / "train" / "model.onnx"


def test_garbage_model_file(run: Path, guard: Guard) -> None:
    _model(run).write_bytes(os.urandom(4096))
    guard.start()
    assert_clean_failure(_export(run), 2, r"model\.onnx: not an ONNX model")
    guard.check()


def test_huge_model_file_is_not_read(run: Path, guard: Guard) -> None:
    with _model(run).open("r+b") as fh:  # sparse: 3 GiB claimed, nothing to read
        fh.truncate(3 * 1024 ** 3)
    guard.start()
    assert_clean_failure(_export(run), 2, r"model\.onnx: \d+ bytes, more than the limit")
    guard.check()


def test_model_that_is_a_fifo_does_not_hang(run: Path, guard: Guard) -> None:
    _model(run).unlink()
    os.mkfifo(_model(run))
    guard.start()
    assert_clean_failure(_export(run), 2, r"model\.onnx: not a regular file")
    guard.check()


def test_external_data_pointing_at_a_host_file_is_refused(run: Path, guard: Guard) -> None:
    weight = helper.make_tensor("w", TensorProto.FLOAT, [1], [0.0])
    weight.data_location = TensorProto.EXTERNAL
    weight.ClearField("float_data")
    entry = weight.external_data.add()
    entry.key, entry.value = "location", "/etc/passwd"
    graph = helper.make_graph([helper.make_node("Add", ["image", "w"], ["probs"])], "g",
                              [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [1])],
                              [weight])
    _model(run).write_bytes(helper.make_model(graph).SerializeToString())
    guard.start()
    assert_clean_failure(_export(run), 2, r"tensor 'w' keeps its data in another file")
    guard.check()


def test_a_model_failing_the_onnx_checker(run: Path, guard: Guard) -> None:
    graph = helper.make_graph([helper.make_node("NoSuchOp", ["image"], ["probs"])], "g",
                              [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [1])])
    model = helper.make_model(graph)
    _model(run).write_bytes(model.SerializeToString())
    with pytest.raises(onnx.checker.ValidationError):
        onnx.checker.check_model(model)
    guard.start()
    assert_clean_failure(_export(run), 2, r"model\.onnx: fails the ONNX checker")
    guard.check()


def test_a_torchscript_that_is_not_an_archive(run: Path, guard: Guard) -> None:
    (run / ".tc" / "train" / "model.torchscript").write_bytes(b"\x80\x04K\x01.")  # a pickle
    guard.start(run / ".tc" / "train" / "formats")
    assert_clean_failure(_export(run, "--to", "torchscript"), 2,
                         r"model\.torchscript: not a TorchScript archive")
    guard.check()


def test_a_foreign_file_in_the_formats_folder_is_kept(run: Path, guard: Guard) -> None:
    foreign = run / ".tc" / "train" / "formats" / "model.int8.onnx"
    foreign.parent.mkdir()
    foreign.write_bytes(b"not tc's")
    guard.start()
    assert_clean_failure(_export(run, "--to", "onnx-int8"), 2,
                         r"model\.int8\.onnx: exists and was not written by tc model export")
    guard.check()
