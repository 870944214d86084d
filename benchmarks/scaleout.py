"""Data-parallel scaling of the classification template on this machine (issue 15).

1. images/s of the real template (train.py from scaffolds/, on a synthetic dataset): plain
   ``python train.py`` and under torchrun with 1 and 2 CPU processes (Gloo), median of
   ``BENCH_REPEATS`` (default 3) fresh runs each, read from metrics.jsonl (last epoch; the
   first one warms up). Informational on a 2-core machine: 2 processes share the 2 cores.
2. all-reduce cost per step: the classification model's gradients (ResNet-18, 3 classes,
   11.2 M parameters) summed by 2 Gloo processes in DDP's 25 MB buckets, vs the compute of
   one forward+backward step of the same model at the same global batch — the two terms of
   the scaling model in docs/scale-out.md.
3. GPU: images/s on 1 GPU with and without torchrun, only when a GPU is present (none is
   reported as such, never invented).

No ratio has a floor here (the figures depend on the cores the runner has); the speed-ups are
printed as ratios measured in the same run.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VARIANTS = REPO / "scaffolds" / "variants"
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
TRAIN_ARGS = ["--epochs", "2", "--img-size", "32", "--batch-size", "16", "--architecture",
              "resnet18", "--num-workers", "0"]

ALLREDUCE_WORKER = r'''
import json, os, statistics, sys, time
import torch, torchvision
torch.manual_seed(0)
rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
torch.distributed.init_process_group("gloo")
model = torchvision.models.get_model("resnet18", weights=None, num_classes=3)
grads = [torch.randn_like(p) for p in model.parameters()]
bucket_bytes, buckets, cur, size = 25 * 2**20, [], [], 0
for g in reversed(grads):  # DDP fills buckets from the last layer backwards
    cur.append(g); size += g.numel() * 4
    if size >= bucket_bytes:
        buckets.append(cur); cur, size = [], 0
if cur:
    buckets.append(cur)
flat = [torch.cat([g.flatten() for g in b]) for b in buckets]
times = []
for step in range(12):
    torch.distributed.barrier()
    t0 = time.perf_counter()
    for f in flat:
        torch.distributed.all_reduce(f)
    times.append(time.perf_counter() - t0)
compute = []
if rank == 0:
    x, y = torch.rand(int(sys.argv[1]), 3, 32, 32), torch.randint(0, 3, (int(sys.argv[1]),))
    for step in range(6):
        t0 = time.perf_counter()
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        compute.append(time.perf_counter() - t0)
    print(json.dumps({"params": sum(p.numel() for p in model.parameters()),
                      "bytes": sum(f.numel() * 4 for f in flat), "buckets": len(flat),
                      "allreduce_s": statistics.median(times[2:]),
                      "compute_s": statistics.median(compute[1:])}), flush=True)
torch.distributed.destroy_process_group()
'''


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_dataset(root: Path, n_train: int = 96, n_val: int = 16) -> None:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    colours = [(220, 30, 30), (30, 220, 30), (30, 30, 220)]
    cats = [{"id": i + 1, "name": n} for i, n in enumerate(("red", "green", "blue"))]
    for split, count in (("train", n_train), ("val", n_val)):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
        images, anns = [], []
        for i in range(count):
            cls = i % 3
            arr = np.clip(rng.normal(colours[cls], 60, (40, 40, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(arr).save(root / "images" / split / f"{i}.png")
            images.append({"id": i + 1, "file_name": f"{i}.png", "width": 40, "height": 40})
            anns.append({"id": i + 1, "image_id": i + 1, "category_id": cls + 1})
        (root / "labels" / split / "labels.json").write_text(json.dumps(
            {"images": images, "annotations": anns, "categories": cats}))


def workdir(tmp: Path) -> Path:
    work = tmp / "docker"
    shutil.copytree(VARIANTS / "classification" / "docker", work)
    shutil.copy(VARIANTS / "torch_common" / "tc_torch.py", work)
    shutil.copy(REPO / "scaffolds" / "project" / "export" / "export.py", work / "tc_export.py")
    return work


def run_once(work: Path, data: Path, out: Path, launcher: list[str], cuda: bool) -> dict[str, float]:
    env = dict(os.environ, GLOO_SOCKET_IFNAME="lo", PYTHONDONTWRITEBYTECODE="1")
    if not cuda:
        env["CUDA_VISIBLE_DEVICES"] = ""
    argv = [*launcher, "train.py", "--images-dir", str(data / "images"), "--labels-dir",
            str(data / "labels"), "--output-dir", str(out), *TRAIN_ARGS]
    proc = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, timeout=900)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(launcher)} exited {proc.returncode}:\n"
                           f"{(proc.stdout + proc.stderr)[-2000:]}")
    records = [json.loads(ln) for ln in (out / "metrics.jsonl").read_text().splitlines()]
    last = [r for r in records if r["kind"] == "epoch"][-1]
    shutil.rmtree(out)
    return {"images_per_s": float(last["images_per_s"]),
            "data_wait_share": float(last["data_wait_share"])}


def median_run(work: Path, data: Path, tmp: Path, launcher: list[str],
               cuda: bool = False) -> dict[str, float]:
    runs = [run_once(work, data, tmp / f"out{i}", launcher, cuda) for i in range(REPEATS)]
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def allreduce(tmp: Path, global_batch: int) -> dict[str, float]:
    script = tmp / "allreduce.py"
    script.write_text(ALLREDUCE_WORKER)
    port = _free_port()
    procs = []
    for rank in range(2):
        env = dict(os.environ, RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1",
                   MASTER_PORT=str(port), GLOO_SOCKET_IFNAME="lo", CUDA_VISIBLE_DEVICES="",
                   OMP_NUM_THREADS="1")
        procs.append(subprocess.Popen([sys.executable, str(script), str(global_batch)],
                                      env=env, stdout=subprocess.PIPE, text=True))
    outs = [p.communicate(timeout=600)[0] for p in procs]
    if any(p.returncode for p in procs):
        raise RuntimeError("all-reduce benchmark failed")
    return dict(json.loads(outs[0].strip().splitlines()[-1]))


def main() -> int:
    import torch

    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    with tempfile.TemporaryDirectory(prefix="tc-bench-scaleout-") as name:
        tmp = Path(name)
        data = tmp / "data"
        make_dataset(data)
        work = workdir(tmp)
        print(f"classification template, ResNet-18, 96 train images 32 px, global batch 16, "
              f"{os.cpu_count()} CPU cores, median of {REPEATS} fresh runs (last epoch):")
        plain = median_run(work, data, tmp, [sys.executable])
        one = median_run(work, data, tmp, [*torchrun, "--nproc-per-node", "1"])
        two = median_run(work, data, tmp, [*torchrun, "--nproc-per-node", "2"])
        for label, r in (("python train.py", plain), ("torchrun, 1 CPU process", one),
                         ("torchrun, 2 CPU processes", two)):
            print(f"  {label:28s} {r['images_per_s']:8.1f} images/s  data wait "
                  f"{100 * r['data_wait_share']:4.1f}%")
        print(f"  ratio 2 processes / 1 process: {two['images_per_s'] / one['images_per_s']:.2f}"
              f"  (torchrun 1 / plain: {one['images_per_s'] / plain['images_per_s']:.2f})")
        ar = allreduce(tmp, 16)
        print(f"all-reduce per step, Gloo, 2 processes on loopback: {ar['params'] / 1e6:.1f} M "
              f"gradients, {ar['bytes'] / 2**20:.1f} MiB in {ar['buckets']} bucket(s): "
              f"{1000 * ar['allreduce_s']:.1f} ms")
        print(f"  forward+backward of one global batch (16 images, 1 process): "
              f"{1000 * ar['compute_s']:.1f} ms -> all-reduce / compute = "
              f"{ar['allreduce_s'] / ar['compute_s']:.2f}")
        if torch.cuda.is_available():
            g_plain = median_run(work, data, tmp, [sys.executable], cuda=True)
            g_one = median_run(work, data, tmp, [*torchrun, "--nproc-per-node", "1"], cuda=True)
            print(f"GPU ({torch.cuda.get_device_name(0)}): python train.py "
                  f"{g_plain['images_per_s']:.1f} images/s, torchrun 1 process "
                  f"{g_one['images_per_s']:.1f} images/s, ratio "
                  f"{g_one['images_per_s'] / g_plain['images_per_s']:.2f}")
        else:
            print("GPU: none on this machine; no GPU figures (run make bench on a GPU machine "
                  "for images/s on 1 GPU with and without torchrun)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
