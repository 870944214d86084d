"""tc model export through the CLI: exact lines of the refusals, the JSON's shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.hostile.harness import tc
from tests.unit.model.tinyrun import tiny_run


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_run(tmp_path_factory.mktemp("model-cli"))


def test_unknown_format_exact_output(run: Path) -> None:
    r = tc("model", "export", str(run), "--to", "keras", cwd=run.parent)
    assert r.rc == 2 and r.stdout == ""
    assert r.stderr == ("error: --to 'keras' is not a format tc exports\n"
                        "hint: use onnx, onnx-fp16, onnx-int8, torchscript, triton, tensorrt\n")


def test_json_table(run: Path) -> None:
    r = tc("model", "export", str(run), "--to", "onnx-fp16", "--to", "tensorrt", "--json",
           cwd=run.parent, timeout=300)
    assert r.rc == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["version"] == 1 and data["task"] == "classification" and data["tolerance"] == 0.02
    assert [row["format"] for row in data["rows"]] == ["onnx", "onnx-fp16", "tensorrt"]
    assert set(data["rows"][1]) == {"format", "file", "size", "status", "metric", "delta",
                                    "max_abs_diff", "latency_ms_b1", "latency_ms_b32", "note"}


def test_table(run: Path) -> None:
    r = tc("model", "export", str(run), "--to", "triton", cwd=run.parent, timeout=300)
    assert r.rc == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("classification: accuracy on ")
    header = next(ln for ln in lines if "format" in ln)
    assert header.split() == ["┃", "format", "┃", "accuracy", "┃", "delta", "┃", "max", "diff",
                              "┃", "size", "┃", "b1", "ms", "┃", "b32", "ms", "┃", "status", "┃"]
    assert any(ln.startswith("triton: onnxruntime_onnx, dynamic batch up to 32") for ln in lines)
    assert lines[-1] == f"files: {run / '.tc' / 'train' / 'formats'} (formats.json)"
