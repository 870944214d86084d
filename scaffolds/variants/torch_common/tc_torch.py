# Managed by tc (`tc update` brings its new versions) — edit train.py instead.
"""The training machinery shared by tc's torchvision templates (classification, detection,
segmentation); the loop itself stays in each train.py, readable top to bottom.

What train.py uses, in the order of its ``main``:

* ``start(args)`` -> ``Run``: device, seeds, DataLoader workers, AMP dtype, channels_last, and
  the process group when torchrun started the script; ``run.log`` prints on rank 0 only.
* ``load_splits(run, load_split)`` -> ``Splits`` (train items, val items, categories).
* ``run.train_loader(...)`` / ``run.val_loader(...)``: seeded DataLoaders (pinned memory,
  persistent prefetching workers; a DistributedSampler under torchrun).
* ``Optimization``: AdamW + a one-cycle schedule + the fp16 GradScaler; ``step(loss)`` is the
  backward pass and update of one batch.
* ``Epoch``: ``for batch in epoch.batches(loader)`` times the wait for data, ``add`` sums the
  loss, ``totals()`` -> ``EpochStats`` summed over the ranks.
* ``MetricsLog``: ``<output-dir>/metrics.jsonl`` (one record per epoch, then a final one).
* ``export_onnx`` -> ``Exported``, then ``finish(...)``: metrics.json, the final record and the
  closing lines (the score line last, read by the platform's ``score_regexp``).
* Model helpers: ``load_matching_weights`` (local files only, never a download),
  ``short_run_batchnorm``, ``wrap_model`` / ``unwrap`` (DistributedDataParallel).

Data-parallel training: under ``torchrun`` (``WORLD_SIZE`` > 1) every process trains on its
share of each global batch (the config's ``batch-size`` is the global batch, split over the
processes) through DistributedDataParallel; rank 0 alone evaluates the whole val split,
prints, exports and writes files. Without torchrun nothing of that is active.

It is rendered next to train.py in the template's ``docker/`` folder, so it reaches the
platform's build directory and the image with it (``from tc_torch import start``). One module
over 400 lines on purpose: it is the one file of shared machinery a user opens beside train.py.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, TextIO, TypeVar

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler

T = TypeVar("T")
Collate = Callable[[list[Any]], Any]


# ----------------------------------------------------------------------------- seeds, loaders
def seed_worker(worker_id: int) -> None:
    """Seed numpy and random in each DataLoader worker from torch's per-worker seed."""
    del worker_id
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def seed_everything(seed: int, cuda: bool) -> None:
    """Seed everything; cudnn autotuning on CUDA, deterministic algorithms on CPU."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if cuda:
        torch.backends.cudnn.benchmark = True
    else:
        torch.use_deterministic_algorithms(True, warn_only=True)


def make_loader(dataset: Dataset[Any], *, batch_size: int, shuffle: bool, workers: int,
                cuda: bool, seed: int, collate_fn: Collate | None = None) -> DataLoader[Any]:
    """A seeded DataLoader: pinned memory on CUDA, persistent workers that prefetch,
    the last partial batch dropped while training (BatchNorm needs more than one)."""
    generator = torch.Generator()
    generator.manual_seed(seed)
    return DataLoader(
        dataset,
        collate_fn=collate_fn,
        batch_size=batch_size,
        shuffle=shuffle,
        drop_last=shuffle and len(dataset) > batch_size,  # type: ignore[arg-type]
        num_workers=workers,
        pin_memory=cuda,
        persistent_workers=workers > 0,
        prefetch_factor=4 if workers > 0 else None,
        worker_init_fn=seed_worker,
        generator=generator,
    )


def make_train_loader(dataset: Dataset[Any], *, batch_size: int, workers: int, cuda: bool,
                      seed: int, dist: Dist, collate_fn: Collate | None = None
                      ) -> DataLoader[Any]:
    """The training loader: ``make_loader`` alone, or under torchrun a DistributedSampler
    (one seeded permutation per epoch, shared by the ranks, each taking every world_size-th
    sample: no sample twice in an epoch) and ``batch_size // world_size`` per process.
    Call ``set_epoch(loader, epoch)`` before each epoch."""
    if not dist.enabled:
        return make_loader(dataset, batch_size=batch_size, shuffle=True, workers=workers,
                           cuda=cuda, seed=seed, collate_fn=collate_fn)
    per_rank = rank_batch_size(batch_size, dist)
    sampler: DistributedSampler[Any] = DistributedSampler(
        dataset, num_replicas=dist.world_size, rank=dist.rank, shuffle=True, seed=seed,
        drop_last=True)
    generator = torch.Generator()
    generator.manual_seed(seed + dist.rank)
    return DataLoader(
        dataset, batch_size=per_rank, sampler=sampler, collate_fn=collate_fn,
        drop_last=len(dataset) > batch_size,  # type: ignore[arg-type]
        num_workers=workers, pin_memory=cuda, persistent_workers=workers > 0,
        prefetch_factor=4 if workers > 0 else None, worker_init_fn=seed_worker,
        generator=generator)


def set_epoch(loader: DataLoader[Any], epoch: int) -> None:
    """Reshuffle a distributed loader for ``epoch`` (nothing to do for a plain one)."""
    set_sampler_epoch = getattr(loader.sampler, "set_epoch", None)
    if set_sampler_epoch is not None:
        set_sampler_epoch(epoch)


def autocast_dtype(device: torch.device, enabled: bool) -> torch.dtype | None:
    """bf16 where the GPU supports it, else fp16; None (no AMP) on CPU or when disabled."""
    if not enabled or device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def resolve_workers(requested: int, cuda: bool) -> int:
    """-1 means auto: up to 8 DataLoader workers on CUDA, none on CPU (deterministic)."""
    if requested >= 0:
        return requested
    return min(8, os.cpu_count() or 1) if cuda else 0


# ----------------------------------------------------------------------------- models
def load_matching_weights(model: nn.Module, weights_path: str) -> None:
    """Load the tensors of a local state_dict file whose names and shapes match ``model``
    (a new head keeps its random start). Nothing is ever downloaded."""
    state = torch.load(weights_path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    own = model.state_dict()
    keep = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(keep, strict=False)
    print(f"weights: loaded {len(keep)} of {len(own)} tensors from {weights_path} "
          "(the rest, e.g. the head, start random)", flush=True)


def short_run_batchnorm(model: nn.Module) -> None:
    """Raise BatchNorm momentum to at least 0.1. MobileNetV3/EfficientNet use 0.01 (tuned for
    long ImageNet runs); with few steps the running statistics would lag far behind."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.momentum = max(module.momentum or 0.1, 0.1)


# ----------------------------------------------------------------------------- distributed
@dataclass(frozen=True)
class Dist:
    """This process's place in the job: ``world_size`` 1 and ``rank`` 0 without torchrun.

    Under torchrun (``WORLD_SIZE`` > 1) ``start()`` joins the process group: NCCL on CUDA
    (one GPU per process, ``cuda:LOCAL_RANK``), Gloo on CPU. Rank 0 is the main process: it
    alone prints, evaluates, exports and writes files."""

    world_size: int = 1
    rank: int = 0
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def describe(self) -> str:
        """``"  processes: N"`` for the device line under torchrun, nothing alone."""
        return f"  processes: {self.world_size}" if self.enabled else ""

    def barrier(self) -> None:
        if self.enabled:
            torch.distributed.barrier()

    def sum(self, *values: float) -> list[float]:
        """The sums over all ranks of a few numbers (the values themselves when alone)."""
        if not self.enabled:
            return [float(v) for v in values]
        t = torch.tensor([float(v) for v in values], dtype=torch.float64)
        if torch.distributed.get_backend() == "nccl":
            t = t.cuda()
        torch.distributed.all_reduce(t)
        return [float(v) for v in t.cpu().tolist()]

    def close(self) -> None:
        if self.enabled and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def init_distributed(cuda: bool, env: Mapping[str, str] | None = None) -> Dist:
    """Join torchrun's process group when ``WORLD_SIZE`` > 1 (timeout: ``TC_DIST_TIMEOUT``
    seconds, default 1800: a dead peer ends the job instead of hanging it)."""
    env = os.environ if env is None else env
    world_size = int(env.get("WORLD_SIZE", "1") or "1")
    if world_size <= 1:
        return Dist()
    rank, local_rank = int(env["RANK"]), int(env.get("LOCAL_RANK", "0"))
    if cuda:
        torch.cuda.set_device(local_rank)
    timeout = datetime.timedelta(seconds=float(env.get("TC_DIST_TIMEOUT", "1800")))
    torch.distributed.init_process_group("nccl" if cuda else "gloo", timeout=timeout)
    return Dist(world_size, rank, local_rank)


def wrap_model(model: nn.Module, dist: Dist) -> nn.Module:
    """DistributedDataParallel around ``model`` under torchrun (gradients averaged over the
    ranks at every step; rank 0's weights and buffers broadcast); ``model`` itself otherwise."""
    if not dist.enabled:
        return model
    device_ids = [dist.local_rank] if next(model.parameters()).is_cuda else None
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


def unwrap(model: nn.Module) -> nn.Module:
    """The network inside DistributedDataParallel (what is evaluated and exported)."""
    if isinstance(model, nn.parallel.DistributedDataParallel):
        inner: nn.Module = model.module
        return inner
    return model


def rank_batch_size(batch_size: int, dist: Dist, log: Callable[..., None] = print) -> int:
    """Per-process batch for the config's GLOBAL ``batch-size`` (split over the ranks)."""
    per_rank = max(1, batch_size // dist.world_size)
    if per_rank * dist.world_size != batch_size and dist.is_main:
        log(f"warning: batch-size {batch_size} is not a multiple of {dist.world_size} "
            f"processes: {per_rank} per process, {per_rank * dist.world_size} per step",
            flush=True)
    return per_rank


# ----------------------------------------------------------------------------- the run
@dataclass
class Run:
    """What the start of every template's main() sets up (see ``start``)."""

    args: argparse.Namespace
    dist: Dist
    device: torch.device
    workers: int
    amp_dtype: torch.dtype | None
    channels_last: bool
    started: float = field(default_factory=time.perf_counter)

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    def log(self, *parts: object, file: TextIO | None = None) -> None:
        """print() on rank 0 only (every line flushed at once)."""
        if self.dist.is_main:
            print(*parts, file=file, flush=True)

    def autocast(self) -> torch.autocast:
        """Mixed precision for the forward pass (a no-op without AMP)."""
        return torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32,
                              enabled=self.amp_dtype is not None)

    def train_loader(self, dataset: Dataset[Any], batch_size: int,
                     collate_fn: Collate | None = None) -> DataLoader[Any]:
        """Shuffled, seeded, last partial batch dropped; split over the ranks under torchrun."""
        return make_train_loader(dataset, batch_size=batch_size, workers=self.workers,
                                 cuda=self.cuda, seed=self.args.seed, dist=self.dist,
                                 collate_fn=collate_fn)

    def val_loader(self, dataset: Dataset[Any], batch_size: int,
                   collate_fn: Collate | None = None) -> DataLoader[Any]:
        """In order, every sample (rank 0 evaluates the whole split)."""
        return make_loader(dataset, batch_size=batch_size, shuffle=False, workers=self.workers,
                           cuda=self.cuda, seed=self.args.seed, collate_fn=collate_fn)

    def close(self) -> None:
        """Wait for every rank, then leave the process group (nothing to do alone)."""
        self.dist.barrier()
        self.dist.close()


def start(args: argparse.Namespace, channels_last: bool = True) -> Run:
    """Device, process group (under torchrun), per-rank seeds, workers and AMP from ``args``
    (``--seed``, ``--num-workers``, ``--no-amp``); channels_last only on CUDA."""
    cuda = torch.cuda.is_available()
    dist = init_distributed(cuda)
    if cuda and dist.enabled:
        device = torch.device("cuda", dist.local_rank)
    else:
        device = torch.device("cuda" if cuda else "cpu")
    # rank r seeds with seed + r (its augmentation differs); the weights are rank 0's,
    # broadcast by DistributedDataParallel, so they start the same everywhere
    seed_everything(args.seed + dist.rank, cuda)
    workers = resolve_workers(args.num_workers, cuda)
    return Run(args=args, dist=dist, device=device, workers=workers,
               amp_dtype=autocast_dtype(device, not args.no_amp),
               channels_last=channels_last and cuda)


class Splits(NamedTuple):
    """The items of the train and val splits (the template's ``load_split`` decides what an
    item is) and the categories, sorted by id."""

    train: list[Any]
    val: list[Any]
    categories: list[dict[str, Any]]


LoadSplit = Callable[[str, str, str], tuple[list[Any], list[dict[str, Any]]]]


def load_splits(run: Run, load_split: LoadSplit, what: str = "training images") -> Splits | None:
    """Both splits from the template's ``load_split(images_dir, labels_dir, split)``; no
    training items -> an error line and ``None``; an empty val split -> the training split
    (warned)."""
    args = run.args
    train_items, categories = load_split(args.images_dir, args.labels_dir, "train")
    val_items, val_categories = load_split(args.images_dir, args.labels_dir, "val")
    if not train_items:
        print(f"error: no {what} in {args.labels_dir}/train/labels.json", file=sys.stderr)
        return None
    if not val_items:
        run.log("warning: the val split is empty; reporting metrics on the training split")
        val_items = train_items
    return Splits(train_items, val_items, categories or val_categories)


# ----------------------------------------------------------------------------- one step, one epoch
class Optimization:
    """AdamW, one cycle up to ``--learning-rate`` over all epochs, and the loss scaler that
    fp16 needs (inactive otherwise). ``step(loss)`` is one batch's backward pass and update."""

    def __init__(self, params: Iterable[nn.Parameter], args: argparse.Namespace, *,
                 steps_per_epoch: int, amp_dtype: torch.dtype | None,
                 clip_grad_norm: float | None = None) -> None:
        self.params = [p for p in params if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.params, lr=args.learning_rate,
                                           weight_decay=args.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.OneCycleLR(
            self.optimizer, max_lr=args.learning_rate, epochs=args.epochs,
            steps_per_epoch=max(1, steps_per_epoch), pct_start=0.2)
        self.scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
        self.clip_grad_norm = clip_grad_norm

    def step(self, loss: torch.Tensor) -> None:
        """Gradients of ``loss`` (scaled under fp16), optional clipping, one optimizer step,
        one schedule step."""
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()  # type: ignore[no-untyped-call]
        if self.clip_grad_norm is not None:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.params, self.clip_grad_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()

    @property
    def lr(self) -> float:
        """The learning rate of the last step."""
        return float(self.scheduler.get_last_lr()[0])


class EpochStats(NamedTuple):
    """One training epoch summed over all ranks (rank 0's clock)."""

    images: int
    loss: float  # mean training loss per image
    accuracy: float  # share of correct predictions (when the template counts them)
    images_per_s: float
    data_wait: float  # share of the epoch spent waiting for the DataLoader
    seconds: float


class Epoch:
    """Times one epoch: ``for batch in epoch.batches(loader)`` counts the time spent waiting
    for data; ``add(n, loss)`` sums images and loss; ``totals()`` sums them over the ranks."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.begin = time.perf_counter()
        self.wait = 0.0
        self.seen = 0
        self.loss_sum = 0.0
        self.correct = 0

    def batches(self, loader: Iterable[T]) -> Iterator[T]:
        it = iter(loader)
        while True:
            t0 = time.perf_counter()
            batch = next(it, None)
            self.wait += time.perf_counter() - t0
            if batch is None:
                return
            yield batch

    def add(self, n: int, loss: torch.Tensor | float, correct: torch.Tensor | int = 0) -> None:
        self.seen += n
        self.loss_sum += float(loss) * n
        self.correct += int(correct)

    def totals(self) -> EpochStats:
        if self.run.cuda:
            torch.cuda.synchronize()
        seconds = time.perf_counter() - self.begin
        seen, loss_sum, correct = self.run.dist.sum(self.seen, self.loss_sum, self.correct)
        return EpochStats(int(seen), loss_sum / max(1, seen), correct / max(1, seen),
                          seen / max(seconds, 1e-9), self.wait / max(seconds, 1e-9), seconds)


# ----------------------------------------------------------------------------- what a run leaves
class MetricsLog:
    """``<output-dir>/metrics.jsonl``: one JSON object per line (an ``epoch`` record per epoch,
    then the ``final`` record), flushed after each line, written by rank 0 only."""

    def __init__(self, output_dir: str, metric_name: str, epochs: int, dist: Dist) -> None:
        self.metric_name = metric_name
        self.epochs = epochs
        self.world_size = dist.world_size
        self.file: TextIO | None = None
        if dist.is_main:
            Path(output_dir).mkdir(parents=True, exist_ok=True)
            self.file = open(Path(output_dir) / "metrics.jsonl", "w", encoding="utf-8")  # noqa: SIM115

    def _write(self, record: dict[str, Any]) -> None:
        if self.file is not None:
            self.file.write(json.dumps(record, ensure_ascii=False) + "\n")
            self.file.flush()

    def epoch(self, epoch: int, stats: EpochStats, lr: float, metric: float | None,
              val_loss: float | None = None) -> None:
        """One epoch's record (``metric`` None in the epochs without evaluation)."""
        self._write(dict(kind="epoch", epoch=epoch, epochs=self.epochs, loss=stats.loss, lr=lr,
                         metric_name=self.metric_name, metric=metric, val_loss=val_loss,
                         images_per_s=stats.images_per_s, data_wait_share=stats.data_wait,
                         seconds=stats.seconds))

    def final(self, metric: float, train_seconds: float, model_file: str | Path) -> None:
        self._write(dict(kind="final", metric_name=self.metric_name, metric=metric,
                         score=metric, epochs=self.epochs, train_seconds=train_seconds,
                         model_file=Path(model_file).name, world_size=self.world_size))
        if self.file is not None:
            self.file.close()
            self.file = None


class Exported(NamedTuple):
    """What ``export_onnx`` did: the path asked for, and tc_export's result (``.path`` is the
    file written: the ONNX file, or the fallback's)."""

    requested: Path
    result: Any
    began: float  # time.perf_counter() when the export began (the end of training)

    @property
    def path(self) -> Path:
        return Path(getattr(self.result, "path", None) or self.requested)

    @property
    def parity(self) -> float | None:
        """onnxruntime's largest difference from the model (None when ONNX export failed)."""
        value = getattr(self.result, "max_abs_diff", None)
        return None if value is None else float(value)


def export_onnx(wrapped: nn.Module, output_dir: str, model_filename: str,
                sample: torch.Tensor, fallback: Callable[[nn.Module, str], Path]) -> Exported:
    """ONNX export of the wrapped network (tc_export: verified against onnxruntime), or the
    template's ``fallback(model, path)``."""
    from tc_export import export_model

    requested = Path(output_dir) / model_filename
    began = time.perf_counter()
    result = export_model(wrapped.eval(), str(requested), "pytorch", fallback,
                          sample_input=sample)
    if os.environ.get("TC_EXPORT_TORCHSCRIPT") == "1":  # tc model export --to torchscript
        from tc_export import export_torchscript

        export_torchscript(wrapped.eval(), requested.with_suffix(".torchscript"), sample)
    return Exported(requested, result, began)


def write_metrics_json(output_dir: str, metrics: Mapping[str, Any]) -> None:
    """``<output-dir>/metrics.json`` (atomically: a partial file is never left)."""
    target = Path(output_dir) / "metrics.json"
    tmp = target.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(metrics, indent=2) + "\n")
    os.replace(tmp, target)


def finish(run: Run, metrics_log: MetricsLog, exported: Exported, *, score: float,
           metrics: Mapping[str, Any], details: Sequence[str] = (),
           score_lines: Sequence[str]) -> None:
    """Rank 0's end of a run: ``metrics.json`` (``metrics`` + the model path and the ONNX
    parity), the final metrics.jsonl record, then the lines ``details``, the ONNX parity and
    ``score_lines`` -- last, where the platform's ``score_regexp`` reads the score."""
    write_metrics_json(run.args.output_dir, {**metrics, "model": str(exported.requested),
                                             "onnx_max_abs_diff": exported.parity})
    metrics_log.final(score, exported.began - run.started, exported.path)
    for line in details:
        run.log(line)
    if exported.parity is not None:
        run.log(f"ONNX parity  max_abs_diff  {exported.parity:.3e}")
    for line in score_lines:
        run.log(line)
