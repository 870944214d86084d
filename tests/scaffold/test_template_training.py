"""Each template, rendered by tc, trains outside Docker on demo data like the platform runs it.

Flat build directory (tcli.buildctx, contract §3) -> ``python setup.py`` (the shared runtime:
CVAT -> split -> COCO) -> ``python config_to_args.py`` (execs train.py with the final config),
with MINIO_ROOT / DATASETS_ROOT / TRAIN_ROOT / WORKSPACE overrides. Checks: the template's own
score_regexp captures a score above the bar, the model is an ONNX file that onnxruntime loads and
runs on a real val image, the exporter's parity is <= 1e-4. The wall time (issue 7: under 3
minutes on CPU) is measured by ``make bench`` (benchmarks/template_training.py), not asserted.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tcli.buildctx import assemble
from tcli.contract import TEMPLATE_NAMES
from tcli.datasets.demo import write_demo_dataset
from tcli.project import Project
from tests.scaffold.conftest import render_template

pytestmark = pytest.mark.slow

# score bars of issue 7 (chance is 1/3 for the three demo classes)
THRESHOLDS = {"classification": 0.8, "sklearn": 0.8, "detection": 0.5, "segmentation": 0.5}
PARITY = 1e-4


def _run_template(template: str, tmp_path: Path) -> tuple[str, Path, Path, float]:
    project_dir = render_template(tmp_path / "project", template)
    project = Project.load(project_dir)
    ref = project.select(None)
    workspace = tmp_path / "workspace"
    assemble(project, ref, workspace)
    minio, datasets, train_root = tmp_path / "minio", tmp_path / "datasets", tmp_path / "train"
    write_demo_dataset(minio, template, seed=0, dataset_id=1)
    env = dict(os.environ, WORKSPACE=str(workspace), MINIO_ROOT=str(minio),
               DATASETS_ROOT=str(datasets), TRAIN_ROOT=str(train_root), DATASET_ID="1",
               PYTHONDONTWRITEBYTECODE="1")
    start = time.monotonic()
    logs = []
    for script in ("setup.py", "config_to_args.py"):
        proc = subprocess.run([sys.executable, script], cwd=workspace, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
        logs.append(proc.stdout)
        assert proc.returncode == 0, f"{template}: {script} failed:\n{proc.stdout[-4000:]}"
    elapsed = time.monotonic() - start
    return "".join(logs), ref.config_dir, train_root, elapsed


@pytest.mark.parametrize("template", TEMPLATE_NAMES)
def test_template_trains_on_demo_data(template: str, tmp_path: Path) -> None:
    log, config_dir, train_root, elapsed = _run_template(template, tmp_path)
    custom = json.loads((config_dir / "custom.json").read_text())
    matches = re.findall(custom["score_regexp"], log)
    assert len(matches) == 1, f"{template}: score_regexp found {matches} in:\n{log[-3000:]}"
    score = float(matches[0])
    assert score >= THRESHOLDS[template], f"{template}: score {score}\n{log[-3000:]}"
    # the sample line shipped for `tc validate` is matched by the same regexp
    sample = (config_dir / "score_line.txt").read_text()
    assert re.search(custom["score_regexp"], sample)

    model = Path(custom["model_filepath"].replace("/train", str(train_root), 1))
    assert model.suffix == ".onnx" and model.is_file(), log[-3000:]
    metrics = json.loads((train_root / "metrics.json").read_text())
    assert metrics["onnx_max_abs_diff"] is not None and metrics["onnx_max_abs_diff"] <= PARITY
    assert re.search(r"ONNX parity  max_abs_diff  \d\.\d{3}e[-+]\d\d", log)
    if template != "sklearn":
        assert len(re.findall(r"^epoch \d+/\d+ ", log, re.M)) >= 2, "per-epoch lines"
    _check_onnx(template, model, tmp_path / "datasets", metrics)
    print(f"\n{template}: {custom['score_name']} {score:.4f} (bar {THRESHOLDS[template]}), "
          f"ONNX parity {metrics['onnx_max_abs_diff']:.2e}, setup+train {elapsed:.0f} s")


def _check_onnx(template: str, model: Path, datasets: Path, metrics: dict[str, object]) -> None:
    """onnxruntime loads the file and gives sensible answers on a real val image."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    coco = json.loads((datasets / "labels" / "val" / "labels.json").read_text())
    image = coco["images"][0]
    if template == "sklearn":
        n_features = sess.get_inputs()[0].shape[1]
        assert n_features == metrics["features"]
        x = np.random.default_rng(0).random((3, n_features), dtype=np.float32)
        label, proba = sess.run(None, {sess.get_inputs()[0].name: x})
        assert label.shape == (3,) and proba.shape == (3, 3)
        assert np.allclose(proba.sum(axis=1), 1.0, atol=1e-5)
        return
    size = sess.get_inputs()[0].shape[-1]
    size = size if isinstance(size, int) else 64
    with Image.open(datasets / "images" / "val" / image["file_name"]) as im:
        arr = np.asarray(im.convert("RGB").resize((size, size), Image.BILINEAR), np.float32)
    x = (arr / 255.0).transpose(2, 0, 1)[None]
    outputs = sess.run(None, {sess.get_inputs()[0].name: x})
    anns = [a for a in coco["annotations"] if a["image_id"] == image["id"]]
    if template == "classification":
        (proba,) = outputs
        assert proba.shape == (1, 3) and abs(float(proba.sum()) - 1.0) < 1e-4
    elif template == "segmentation":
        (proba,) = outputs
        assert proba.shape == (1, 4, size, size)
        assert np.allclose(proba.sum(axis=1), 1.0, atol=1e-4)
        assert set(np.unique(proba.argmax(axis=1))) - {0}, "some foreground predicted"
    else:
        boxes, scores, labels = outputs
        assert boxes.shape[1:] == (4,) and scores.shape == labels.shape
        scale = size / image["width"]
        best = 0.0
        for ann in anns:
            gx, gy, gw, gh = (v * scale for v in ann["bbox"])
            for (x1, y1, x2, y2), s in zip(boxes, scores, strict=True):
                if s < 0.5:
                    continue
                iw = max(0.0, min(x2, gx + gw) - max(x1, gx))
                ih = max(0.0, min(y2, gy + gh) - max(y1, gy))
                inter = iw * ih
                best = max(best, inter / ((x2 - x1) * (y2 - y1) + gw * gh - inter))
        assert best > 0.5, f"no confident box overlaps a ground-truth box: {boxes}, {scores}"


@pytest.mark.parametrize("template", ["sklearn", "classification"])
def test_setup_and_train_run_twice_in_a_row(template: str, tmp_path: Path) -> None:
    """Like ``docker start`` on a finished container: the same workspace, the same roots, the
    two stages again. The second run must succeed, rewrite the same split and a model."""
    project_dir = render_template(tmp_path / "project", template)
    project = Project.load(project_dir)
    ref = project.select(None)
    workspace = tmp_path / "workspace"
    assemble(project, ref, workspace)
    # the smallest config that still trains: a tiny dataset, one epoch
    cfg_path = workspace / "train_config.json"
    cfg = json.loads(cfg_path.read_text())
    if "epochs" in cfg:
        cfg["epochs"] = 1
    cfg_path.write_text(json.dumps(cfg))
    minio, datasets, train_root = tmp_path / "minio", tmp_path / "datasets", tmp_path / "train"
    write_demo_dataset(minio, template, images=24, seed=1, dataset_id=3)
    env = dict(os.environ, WORKSPACE=str(workspace), MINIO_ROOT=str(minio),
               DATASETS_ROOT=str(datasets), TRAIN_ROOT=str(train_root), DATASET_ID="3",
               PYTHONDONTWRITEBYTECODE="1")
    custom = json.loads((ref.config_dir / "custom.json").read_text())
    model = Path(custom["model_filepath"].replace("/train", str(train_root), 1))
    manifests = []
    for run in (1, 2):
        log = ""
        for script in ("setup.py", "config_to_args.py"):
            proc = subprocess.run([sys.executable, script], cwd=workspace, env=env, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
            log += proc.stdout
            assert proc.returncode == 0, f"run {run}: {script} failed:\n{proc.stdout[-4000:]}"
        assert len(re.findall(custom["score_regexp"], log)) == 1, f"run {run}:\n{log[-3000:]}"
        assert model.is_file(), f"run {run}: no model at {model}"
        manifests.append((datasets / "split_manifest.json").read_text())
        assert not (datasets / ".tc-staging").exists()
    assert manifests[0] == manifests[1], "the second run split the dataset differently"
    assert sorted(p.name for p in (datasets / "images" / "train").iterdir()) == [
        s["file_name"] for s in json.loads(manifests[1])["samples"] if s["split"] == "train"]
