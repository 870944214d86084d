"""Data-parallel training of the torch templates (tc_torch.py) with real Gloo processes on CPU:
gradients really synchronised, every sample once per epoch, rank 0 alone writing and scoring,
and metrics.jsonl as STATUS.md specifies it."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import REPO, SCAFFOLDS
from tests.unit.templates.conftest import VARIANTS

Loader = Callable[[str], ModuleType]
TORCH_COMMON = VARIANTS / "torch_common"
# 2 ranks x half batch vs 1 process x whole batch: the same sums in another order (float32);
# after 4 AdamW steps the weights agree to ~2e-8. Training independently (no all-reduce)
# or dropping a rank's gradients moves them by ~8e-2 (asserted below: the bound means it).
TOLERANCE = 1e-5

WORKER = r'''
import json, os, sys
import torch
sys.path.insert(0, sys.argv[1])
import tc_torch

def model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                               torch.nn.Linear(4 * 6 * 6, 3))

def data():
    g = torch.Generator().manual_seed(1)
    return torch.rand(8, 3, 8, 8, generator=g), torch.randint(0, 3, (8,), generator=g)

def train(net, params, x, y, steps=4):
    opt = torch.optim.AdamW(params, lr=0.01)
    for step in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()

if __name__ == "__main__":
    out, mode = sys.argv[2], sys.argv[3]
    x, y = data()
    if mode == "single":
        m = model()
        train(m, m.parameters(), x, y)
    else:
        dist = tc_torch.init_distributed(cuda=False)
        assert dist.world_size == 2 and torch.distributed.get_backend() == "gloo"
        m = model()
        if dist.rank == 1:  # a different start: DDP must broadcast rank 0's weights
            with torch.no_grad():
                for p in m.parameters():
                    p.add_(1.0)
        net = tc_torch.wrap_model(m, dist) if mode == "ddp" else m
        half = slice(4 * dist.rank, 4 * dist.rank + 4)
        train(net, m.parameters(), x[half], y[half])
        dist.close()
    torch.save(tc_torch.unwrap(m).state_dict(), out)
'''


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _dist_env(rank: int, port: int) -> dict[str, str]:
    env = dict(os.environ, WORLD_SIZE="2", RANK=str(rank), LOCAL_RANK=str(rank),
               MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), GLOO_SOCKET_IFNAME="lo",
               TC_DIST_TIMEOUT="60", OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    return env


def _weights(tmp_path: Path, mode: str) -> list[dict[str, torch.Tensor]]:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    if mode == "single":
        out = tmp_path / "single.pt"
        subprocess.run([sys.executable, str(script), str(TORCH_COMMON), str(out), "single"],
                       check=True, timeout=120, env=dict(os.environ, CUDA_VISIBLE_DEVICES=""))
        return [torch.load(out)]
    port = _free_port()
    procs = [subprocess.Popen([sys.executable, str(script), str(TORCH_COMMON),
                               str(tmp_path / f"{mode}{r}.pt"), mode], env=_dist_env(r, port))
             for r in range(2)]
    for p in procs:
        assert p.wait(timeout=180) == 0
    return [torch.load(tmp_path / f"{mode}{r}.pt") for r in range(2)]


def _max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k] - b[k]).abs().max()) for k in a)


@pytest.mark.slow  # trains a model
def test_ddp_two_gloo_ranks_match_one_process_on_the_whole_batch(tmp_path: Path) -> None:
    (single,) = _weights(tmp_path, "single")
    rank0, rank1 = _weights(tmp_path, "ddp")
    assert _max_diff(rank0, rank1) == 0.0, "the ranks ended with different weights"
    assert _max_diff(rank0, single) < TOLERANCE
    # the same run without synchronisation is far outside the tolerance: the test can fail
    alone0, _ = _weights(tmp_path, "alone")
    assert _max_diff(alone0, single) > 100 * TOLERANCE


class _Indices(torch.utils.data.Dataset):  # type: ignore[type-arg]
    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        return i


@pytest.mark.parametrize("n", [24, 26])
def test_sampler_gives_every_sample_once_per_epoch(n: int) -> None:
    sys.path.insert(0, str(TORCH_COMMON))
    try:
        import tc_torch
    finally:
        sys.path.remove(str(TORCH_COMMON))
    batch = 4  # global batch: 2 per rank
    single = tc_torch.make_loader(_Indices(n), batch_size=batch, shuffle=True, workers=0,
                                    cuda=False, seed=0)
    single_used = sum(len(b) for b in single)
    orders = []
    for epoch in range(3):
        per_rank = []
        for rank in range(2):
            loader = tc_torch.make_train_loader(_Indices(n), batch_size=batch, workers=0,
                                                cuda=False, seed=0,
                                                dist=tc_torch.Dist(2, rank, rank))
            tc_torch.set_epoch(loader, epoch)
            batches = [b.tolist() for b in loader]
            assert all(len(b) == batch // 2 for b in batches)
            per_rank.append(batches)
        assert len(per_rank[0]) == len(per_rank[1]), "the ranks would step a different number"
        seen = [i for batches in per_rank for b in batches for i in b]
        assert len(seen) == len(set(seen)), "a sample came twice in one epoch"
        assert len(seen) == single_used == (n // batch) * batch
        if n % batch == 0:
            assert sorted(seen) == list(range(n))  # every sample exactly once
        orders.append(seen)
    assert orders[0] != orders[1] != orders[2], "set_epoch must reshuffle"


def _make_dataset(root: Path, n_train: int = 16, n_val: int = 12) -> None:
    """Three colour classes with noise: images/{split}/*.png + COCO labels."""
    rng = np.random.default_rng(0)
    colours = [(220, 30, 30), (30, 220, 30), (30, 30, 220)]
    cats = [{"id": i + 1, "name": n} for i, n in enumerate(("red", "green", "blue"))]
    for split, count in (("train", n_train), ("val", n_val)):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
        images, anns = [], []
        for i in range(count):
            cls = i % 3
            arr = np.clip(rng.normal(colours[cls], 60, (20, 20, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(arr).save(root / "images" / split / f"{i}.png")
            images.append({"id": i + 1, "file_name": f"{i}.png", "width": 20, "height": 20})
            anns.append({"id": i + 1, "image_id": i + 1, "category_id": cls + 1})
        (root / "labels" / split / "labels.json").write_text(json.dumps(
            {"images": images, "annotations": anns, "categories": cats}))


def _workdir(tmp_path: Path, template: str) -> Path:
    work = tmp_path / "docker"
    shutil.copytree(VARIANTS / template / "docker", work)
    shutil.copy(TORCH_COMMON / "tc_torch.py", work)
    shutil.copy(TORCH_COMMON / "tc_weights.py", work)
    shutil.copy(TORCH_COMMON / "tc_data.py", work)
    shutil.copy(SCAFFOLDS / "project" / "export" / "export.py", work / "tc_export.py")
    return work


@pytest.mark.slow  # trains a model
def test_two_processes_rank0_alone_writes_and_scores_like_the_saved_model(
        tmp_path: Path, load_train: Loader) -> None:
    import onnxruntime as ort

    data = tmp_path / "data"
    _make_dataset(data)
    work, out = _workdir(tmp_path, "classification"), tmp_path / "out"
    argv = ["--images-dir", str(data / "images"), "--labels-dir", str(data / "labels"),
            "--output-dir", str(out), "--epochs", "2", "--img-size", "16", "--batch-size", "4"]
    env = dict(os.environ, GLOO_SOCKET_IFNAME="lo", OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="",
               TC_DIST_TIMEOUT="120", PYTHONPATH=str(REPO))
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                        "--nproc-per-node", "2", "train.py", *argv], cwd=work, env=env,
                       capture_output=True, text=True, timeout=600)
    log = r.stdout
    assert r.returncode == 0, log + r.stderr
    scores = re.findall(r"^Test metric  Accuracy  (\d\.\d+)$", log, re.M)
    assert len(scores) == 1, log
    assert len(re.findall(r"^epoch \d/2 ", log, re.M)) == 2, log
    assert "processes: 2" in log
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "metrics.jsonl",
                                                     "model.onnx"]
    # the saved model, evaluated by one process on the whole val split, gives the same score
    train = load_train("classification")
    items, cats = train.load_split(data / "images", data / "labels", "val")
    x = torch.stack([train.read_image(p, 16) for p, _ in items]).float().numpy() / 255
    session = ort.InferenceSession(str(out / "model.onnx"))
    probs = session.run(None, {session.get_inputs()[0].name: x.astype(np.float32)})[0]
    preds = torch.from_numpy(probs).argmax(1)
    targets = torch.tensor([label for _, label in items])
    accuracy, _ = train.classification_metrics(preds, targets, len(cats))
    assert scores[0] == f"{accuracy:.4f}"
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [rec["kind"] for rec in records] == ["epoch", "epoch", "final"]
    assert records[-1]["world_size"] == 2 and records[-1]["score"] == accuracy


FAST = {
    "classification": (["--epochs", "2", "--img-size", "32", "--batch-size", "2"], "accuracy"),
    "detection": (["--epochs", "2", "--img-size", "32", "--batch-size", "2", "--eval-every", "2"],
                  "map50"),
    "segmentation": (["--epochs", "1", "--img-size", "32", "--batch-size", "2"], "miou"),
}
EPOCH_KEYS = ["kind", "epoch", "epochs", "loss", "lr", "metric_name", "metric", "val_loss",
              "images_per_s", "data_wait_share", "seconds"]
FINAL_KEYS = ["kind", "metric_name", "metric", "score", "epochs", "train_seconds", "model_file",
              "world_size"]


@pytest.mark.slow  # trains a model
@pytest.mark.parametrize("template", sorted(FAST))
def test_metrics_jsonl_single_process(template: str, load_train: Loader,
                                      tiny: Callable[[str], Path], tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    argv, name = FAST[template]
    root, out = tiny(template), tmp_path / "out"
    train = load_train(template)
    assert train.main(["--images-dir", str(root / "images"), "--labels-dir",
                       str(root / "labels"), "--output-dir", str(out), *argv]) == 0
    log = capsys.readouterr().out
    assert "processes:" not in log  # alone: the log lines of before, nothing distributed
    custom = json.loads((VARIANTS / template / "config" / "custom.json").read_text())
    score = float(re.findall(custom["score_regexp"], log)[0])
    lines = (out / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    epochs = int(argv[1])
    assert [r["kind"] for r in records] == ["epoch"] * epochs + ["final"]
    for i, rec in enumerate(records[:-1], start=1):
        assert list(rec) == EPOCH_KEYS
        assert (rec["epoch"], rec["epochs"], rec["metric_name"]) == (i, epochs, name)
        assert rec["val_loss"] is None and 0 <= rec["data_wait_share"] <= 1
        assert rec["loss"] > 0 and rec["lr"] > 0 and rec["images_per_s"] > 0
    final = records[-1]
    assert list(final) == FINAL_KEYS
    assert final["metric_name"] == name and final["world_size"] == 1
    assert final["model_file"] == "model.onnx" and final["epochs"] == epochs
    assert "{:.4f}".format(final["score"]) == f"{score:.4f}"
    assert records[-2]["metric"] == final["metric"]  # the last epoch is evaluated
