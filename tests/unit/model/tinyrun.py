"""A tiny CNN made in the test, exported to ONNX, and a project run laid out as tc dev-run does
(.tc/minio demo dataset, .tc/train/model.onnx + split.json): no training, seconds not minutes."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch
from torch import nn

from tcli.datasets.demo import write_demo_dataset
from tests.conftest import copy_project
from tests.unit.report.runs import write_split

SIZE = 16


def tiny_cnn(classes: int = 3) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1),
                         nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, classes),
                         nn.Softmax(dim=1)).eval()


def export_onnx(model: nn.Module, path: Path, *, dynamic: bool = True) -> Path:
    x = torch.rand(1, 3, SIZE, SIZE)
    torch.onnx.export(model, (x,), str(path), input_names=["image"], output_names=["probs"],
                      dynamic_axes={"image": {0: "batch"}, "probs": {0: "batch"}} if dynamic
                      else None, opset_version=17, dynamo=False)
    return path


def tiny_run(base: Path) -> Path:
    """A classification project whose last run left a tiny ONNX model (3 classes, 16 px)."""
    project = copy_project("classification", base / "proj")
    minio = project / ".tc" / "minio"
    write_demo_dataset(minio, "classification", seed=1, dataset_id=1)
    datasets = base / "datasets"
    write_split(project, "classification", datasets)
    shutil.rmtree(datasets)
    export_onnx(tiny_cnn(), project / ".tc" / "train" / "model.onnx")
    return project
