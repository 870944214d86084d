"""Verified ONNX export: real torch.onnx + onnxruntime + skl2onnx, and the fallback."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="torch is not installed in this environment")

CFG = {"model_type": "pytorch", "input_names": ["img"], "input_shapes": [[1, 3, 8, 8]],
       "input_types": ["float32"], "output_names": ["logits"], "opset_version": 14}


class Multi(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.bn = torch.nn.BatchNorm2d(4)
        self.drop = torch.nn.Dropout(0.5)

    def forward(self, x):
        y = self.drop(self.bn(self.conv(x))).mean((2, 3))
        return {"logits": y, "extra": (y * 2, y.argmax(1))}


def test_pytorch_export_verified_with_dynamic_batch(tmp_path: Path, capsys) -> None:
    import onnxruntime as ort
    from export import export_model

    calls = []
    m = Multi().train()  # export must switch to eval (dropout/batchnorm)
    res = export_model(m, tmp_path / "model.onnx", "pytorch", lambda *a: calls.append(a),
                       export_config=CFG)
    assert res.ok and res["ok"] and not calls
    assert res.path == str(tmp_path / "model.onnx") and res.max_abs_diff <= 1e-4
    assert res.opset == 14
    out = capsys.readouterr().out
    assert out.count("[export] ONNX ok") == 1 and "max_abs_diff" in out
    sess = ort.InferenceSession(res.path, providers=["CPUExecutionProvider"])
    assert sess.get_inputs()[0].name == "img" and sess.get_inputs()[0].shape[0] == "batch"
    assert [o.name for o in sess.get_outputs()] == ["logits", "output_1", "output_2"]
    assert len(sess.run(None, {"img": torch.rand(5, 3, 8, 8).numpy()})[0]) == 5


def test_bad_export_config_falls_back_with_reason(tmp_path: Path) -> None:
    from export import export_model

    saved = []

    def save(model, path):
        saved.append(path)
        return str(Path(path).with_suffix(".pt"))

    res = export_model(Multi(), str(tmp_path / "model.onnx"), "pytorch", save,
                       export_config={"model_type": "pytorch", "input_shapes": [[1, 3, 8, 8]],
                                      "input_types": ["complex"], "opset_version": 99})
    assert not res.ok and saved == [str(tmp_path / "model.onnx")]
    assert res.path == str(tmp_path / "model.pt")
    assert "input_types/0" in res.fallback_reason and "opset_version" in res.fallback_reason
    assert not (tmp_path / "model.onnx").exists()


def test_untraceable_model_falls_back(tmp_path: Path) -> None:
    from export import export_model

    class Bad(torch.nn.Module):
        def forward(self, x):
            return torch.from_numpy(x.numpy() * 2)  # leaves the graph

    saved = []
    res = export_model(Bad(), tmp_path / "m.onnx", "pytorch", lambda m, p: saved.append(p),
                       export_config=CFG)
    assert not res.ok and saved and res.fallback_reason
    assert not (tmp_path / "m.onnx").exists()


def test_parity_failure_falls_back(tmp_path: Path, monkeypatch) -> None:
    import export

    real = export._compare
    monkeypatch.setattr(export, "TOLERANCE", {"float32": -1.0})
    saved = []
    res = export.export_model(Multi(), tmp_path / "m.onnx", "pytorch",
                              lambda m, p: saved.append(p), export_config=CFG)
    assert not res.ok and "above" in res.fallback_reason and saved
    assert real is export._compare


def test_sklearn_export_classifier_pipeline(tmp_path: Path) -> None:
    import numpy as np
    from export import export_model
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    x = rng.random((60, 7))
    y = np.array(["weed", "crop", "soil"] * 20)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=200)).fit(x, y)
    res = export_model(model, tmp_path / "model.onnx", "sklearn", lambda m, p: None,
                       sample_input=x[:10])
    assert res.ok and res.max_abs_diff <= 1e-4, res.fallback_reason


def test_unknown_format_falls_back(tmp_path: Path) -> None:
    from export import export_model

    saved = []
    res = export_model(object(), tmp_path / "m.pt", "keras", lambda m, p: saved.append(p))
    assert not res.ok and "'keras'" in res.fallback_reason and saved == [str(tmp_path / "m.pt")]
