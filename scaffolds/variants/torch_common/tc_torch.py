# Managed by tc (`tc update` brings its new versions) — edit train.py instead.
"""Training helpers shared by tc's torchvision templates (classification, detection,
segmentation): seeding, a fast seeded DataLoader, AMP dtype, worker count, local weights and
BatchNorm settings for short runs, and the pieces of main() that the three train.py files
share: ``start`` (device, seeds, workers, AMP, and the process group when torchrun started the
script), ``load_splits``, ``one_cycle``, ``Epoch`` (timing and sums over the ranks),
``MetricsLog`` (metrics.jsonl), ``export_onnx`` and ``write_metrics_json``.

Data-parallel training: under ``torchrun`` (``WORLD_SIZE`` > 1) every process trains on its
share of each global batch (the config's ``batch-size`` is the global batch, split over the
processes) through DistributedDataParallel; rank 0 alone evaluates the whole val split,
prints, exports and writes files. Without torchrun nothing of that is active.

It is a plain module in the template's ``docker/`` folder, so it reaches the platform's build
directory and the image next to train.py (``from tc_torch import make_loader``). Edit freely:
it belongs to your project like train.py does.
"""

import datetime
import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn


def seed_worker(worker_id):
    """Seed numpy and random in each DataLoader worker from torch's per-worker seed."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def make_loader(dataset, batch_size, shuffle, workers, cuda, seed, collate_fn=None):
    """A seeded DataLoader: pinned memory on CUDA, persistent workers that prefetch,
    the last partial batch dropped while training (BatchNorm needs more than one)."""
    generator = torch.Generator()
    generator.manual_seed(seed)
    return torch.utils.data.DataLoader(
        dataset,
        collate_fn=collate_fn,
        batch_size=batch_size,
        shuffle=shuffle,
        drop_last=shuffle and len(dataset) > batch_size,
        num_workers=workers,
        pin_memory=cuda,
        persistent_workers=workers > 0,
        prefetch_factor=4 if workers > 0 else None,
        worker_init_fn=seed_worker,
        generator=generator,
    )


def seed_everything(seed, cuda):
    """Seed everything; cudnn autotuning on CUDA, deterministic algorithms on CPU."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if cuda:
        torch.backends.cudnn.benchmark = True
    else:
        torch.use_deterministic_algorithms(True, warn_only=True)


def autocast_dtype(device, enabled):
    """bf16 where the GPU supports it, else fp16; None (no AMP) on CPU or when disabled."""
    if not enabled or device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def resolve_workers(requested, cuda):
    """-1 means auto: up to 8 DataLoader workers on CUDA, none on CPU (deterministic)."""
    if requested >= 0:
        return requested
    return min(8, os.cpu_count() or 1) if cuda else 0


def load_matching_weights(model, weights_path):
    """Load the tensors of a local state_dict file whose names and shapes match ``model``
    (a new head keeps its random start). Nothing is ever downloaded."""
    state = torch.load(weights_path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    own = model.state_dict()
    keep = dict((k, v) for k, v in state.items() if k in own and own[k].shape == v.shape)
    model.load_state_dict(keep, strict=False)
    print("weights: loaded {} of {} tensors from {} (the rest, e.g. the head, start random)"
          .format(len(keep), len(own), weights_path), flush=True)


def short_run_batchnorm(model):
    """Raise BatchNorm momentum to at least 0.1. MobileNetV3/EfficientNet use 0.01 (tuned for
    long ImageNet runs); with few steps the running statistics would lag far behind."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.momentum = max(module.momentum or 0.1, 0.1)


# ----------------------------------------------------------------------------- distributed
class Dist:
    """This process's place in the job: ``world_size`` 1 and ``rank`` 0 without torchrun.

    Under torchrun (``WORLD_SIZE`` > 1) ``start()`` joins the process group: NCCL on CUDA
    (one GPU per process, ``cuda:LOCAL_RANK``), Gloo on CPU. Rank 0 is the main process: it
    alone prints, evaluates, exports and writes files."""

    def __init__(self, world_size=1, rank=0, local_rank=0):
        self.world_size = world_size
        self.rank = rank
        self.local_rank = local_rank

    @property
    def enabled(self):
        return self.world_size > 1

    @property
    def is_main(self):
        return self.rank == 0

    def describe(self):
        """``"  processes: N"`` for the device line under torchrun, nothing alone."""
        return "  processes: {}".format(self.world_size) if self.enabled else ""

    def barrier(self):
        if self.enabled:
            torch.distributed.barrier()

    def sum(self, *values):
        """The sums over all ranks of a few numbers (the values themselves when alone)."""
        if not self.enabled:
            return list(values)
        t = torch.tensor([float(v) for v in values], dtype=torch.float64)
        if torch.distributed.get_backend() == "nccl":
            t = t.cuda()
        torch.distributed.all_reduce(t)
        return t.cpu().tolist()

    def close(self):
        if self.enabled and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def init_distributed(cuda, env=None):
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


def wrap_model(model, dist):
    """DistributedDataParallel around ``model`` under torchrun (gradients averaged over the
    ranks at every step; rank 0's weights and buffers broadcast); ``model`` itself otherwise."""
    if not dist.enabled:
        return model
    device_ids = [dist.local_rank] if next(model.parameters()).is_cuda else None
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


def unwrap(model):
    """The network inside DistributedDataParallel (what is evaluated and exported)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def rank_batch_size(batch_size, dist, log=print):
    """Per-process batch for the config's GLOBAL ``batch-size`` (split over the ranks)."""
    per_rank = max(1, batch_size // dist.world_size)
    if per_rank * dist.world_size != batch_size and dist.is_main:
        log("warning: batch-size {} is not a multiple of {} processes: {} per process, {} per "
            "step".format(batch_size, dist.world_size, per_rank, per_rank * dist.world_size),
            flush=True)
    return per_rank


def make_train_loader(dataset, batch_size, workers, cuda, seed, dist, collate_fn=None):
    """The training loader: ``make_loader`` alone, or under torchrun a DistributedSampler
    (one seeded permutation per epoch, shared by the ranks, each taking every world_size-th
    sample: no sample twice in an epoch) and ``batch_size // world_size`` per process.
    Call ``set_epoch(loader, epoch)`` before each epoch."""
    if not dist.enabled:
        return make_loader(dataset, batch_size, True, workers, cuda, seed, collate_fn)
    per_rank = rank_batch_size(batch_size, dist)
    sampler = torch.utils.data.distributed.DistributedSampler(
        dataset, num_replicas=dist.world_size, rank=dist.rank, shuffle=True, seed=seed,
        drop_last=True)
    generator = torch.Generator()
    generator.manual_seed(seed + dist.rank)
    return torch.utils.data.DataLoader(
        dataset, batch_size=per_rank, sampler=sampler, collate_fn=collate_fn,
        drop_last=len(dataset) > batch_size, num_workers=workers, pin_memory=cuda,
        persistent_workers=workers > 0, prefetch_factor=4 if workers > 0 else None,
        worker_init_fn=seed_worker, generator=generator)


def set_epoch(loader, epoch):
    """Reshuffle a distributed loader for ``epoch`` (nothing to do for a plain one)."""
    if hasattr(loader.sampler, "set_epoch"):
        loader.sampler.set_epoch(epoch)


# ----------------------------------------------------------------------------- main's pieces
class Run:
    """What the start of every template's main() sets up (see ``start``)."""

    def __init__(self, args, dist, device, workers, amp_dtype, channels_last):
        self.args = args
        self.dist = dist
        self.device = device
        self.cuda = device.type == "cuda"
        self.workers = workers
        self.amp_dtype = amp_dtype
        self.channels_last = channels_last
        self.started = time.perf_counter()

    def log(self, *parts, **kwargs):
        """print() on rank 0 only (every line flushed at once)."""
        if self.dist.is_main:
            print(*parts, flush=True, **kwargs)

    def autocast(self):
        return torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32,
                              enabled=self.amp_dtype is not None)


def start(args, channels_last=True):
    """Device, process group (under torchrun), per-rank seeds, workers and AMP from ``args``
    (``--seed``, ``--num-workers``, ``--no-amp``); channels_last only on CUDA."""
    cuda = torch.cuda.is_available()
    dist = init_distributed(cuda)
    device = torch.device("cuda", dist.local_rank) if cuda and dist.enabled else \
        torch.device("cuda" if cuda else "cpu")
    # rank r seeds with seed + r (its augmentation differs); the weights are rank 0's,
    # broadcast by DistributedDataParallel, so they start the same everywhere
    seed_everything(args.seed + dist.rank, cuda)
    workers = resolve_workers(args.num_workers, cuda)
    return Run(args, dist, device, workers, autocast_dtype(device, not args.no_amp),
               channels_last and cuda)


def load_splits(run, load_split, what="training images"):
    """``(train_items, val_items, categories)`` from the template's ``load_split``; no training
    items -> an error line and ``None``; an empty val split -> the training split (warned)."""
    args = run.args
    train_items, categories = load_split(args.images_dir, args.labels_dir, "train")
    val_items, val_categories = load_split(args.images_dir, args.labels_dir, "val")
    if not train_items:
        print("error: no {} in {}/train/labels.json".format(what, args.labels_dir),
              file=sys.stderr)
        return None
    if not val_items:
        run.log("warning: the val split is empty; reporting metrics on the training split")
        val_items = train_items
    return train_items, val_items, categories or val_categories


def one_cycle(optimizer, args, steps_per_epoch):
    """AdamW's schedule in every template: one cycle to ``--learning-rate`` over all epochs."""
    return torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=args.learning_rate, epochs=args.epochs,
        steps_per_epoch=max(1, steps_per_epoch), pct_start=0.2)


class Epoch:
    """Times one epoch: ``for batch in epoch.batches(loader)`` counts the time spent waiting
    for data; ``add(n, loss)`` sums images and loss; ``totals()`` sums them over the ranks."""

    def __init__(self, run):
        self.run = run
        self.begin = time.perf_counter()
        self.wait = 0.0
        self.seen = 0
        self.loss_sum = 0.0
        self.correct = 0

    def batches(self, loader):
        it = iter(loader)
        while True:
            t0 = time.perf_counter()
            batch = next(it, None)
            self.wait += time.perf_counter() - t0
            if batch is None:
                return
            yield batch

    def add(self, n, loss, correct=0):
        self.seen += n
        self.loss_sum += float(loss) * n
        self.correct += int(correct)

    def totals(self):
        """``(images, mean loss, correct share, images/s, data-wait share, seconds)`` over
        all ranks (rank 0's clock)."""
        if self.run.cuda:
            torch.cuda.synchronize()
        seconds = time.perf_counter() - self.begin
        seen, loss_sum, correct = self.run.dist.sum(self.seen, self.loss_sum, self.correct)
        return (int(seen), loss_sum / max(1, seen), correct / max(1, seen),
                seen / max(seconds, 1e-9), self.wait / max(seconds, 1e-9), seconds)


class MetricsLog:
    """``<output-dir>/metrics.jsonl``: one JSON object per line (an ``epoch`` record per epoch,
    then the ``final`` record), flushed after each line, written by rank 0 only."""

    def __init__(self, output_dir, metric_name, epochs, dist):
        self.metric_name = metric_name
        self.epochs = epochs
        self.world_size = dist.world_size
        self.file = None
        if dist.is_main:
            Path(output_dir).mkdir(parents=True, exist_ok=True)
            self.file = open(Path(output_dir) / "metrics.jsonl", "w", encoding="utf-8")

    def _write(self, record):
        if self.file is not None:
            self.file.write(json.dumps(record, ensure_ascii=False) + "\n")
            self.file.flush()

    def epoch(self, epoch, loss, lr, metric, images_per_s, data_wait_share, seconds,
              val_loss=None):
        self._write(dict(kind="epoch", epoch=epoch, epochs=self.epochs, loss=loss, lr=lr,
                         metric_name=self.metric_name, metric=metric, val_loss=val_loss,
                         images_per_s=images_per_s, data_wait_share=data_wait_share,
                         seconds=seconds))

    def final(self, metric, train_seconds, model_file):
        self._write(dict(kind="final", metric_name=self.metric_name, metric=metric,
                         score=metric, epochs=self.epochs, train_seconds=train_seconds,
                         model_file=Path(model_file).name, world_size=self.world_size))
        if self.file is not None:
            self.file.close()
            self.file = None


def export_onnx(wrapped, output_dir, model_filename, sample, fallback):
    """ONNX export of the wrapped network (tc_export: verified against onnxruntime), or the
    template's ``fallback(model, path)``; returns ``(requested path, export result)`` (the
    file written is ``result.path``)."""
    from tc_export import export_model

    requested = Path(output_dir) / model_filename
    result = export_model(wrapped.eval(), str(requested), "pytorch", fallback,
                          sample_input=sample)
    return requested, result


def write_metrics_json(output_dir, metrics):
    """``<output-dir>/metrics.json`` (atomically: a partial file is never left)."""
    target = Path(output_dir) / "metrics.json"
    tmp = target.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(metrics, indent=2) + "\n")
    os.replace(tmp, target)
