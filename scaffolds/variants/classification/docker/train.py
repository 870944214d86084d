"""Train a torchvision image classifier on the dataset prepared by setup.py.

Input (written by setup.py): ``<images-dir>/{train,val}/<file>`` and
``<labels-dir>/{train,val}/labels.json`` (COCO; classification annotations
``{id, image_id, category_id}``; an image's class is its first annotation, images without one
are skipped). Output: ``<output-dir>/model.onnx`` (input: float32 RGB in [0, 1], shape
``[N, 3, img-size, img-size]``; output: class probabilities in category-id order) and
``<output-dir>/metrics.json``.

Logs one line per epoch and, at the end, the lines the platform's ``score_regexp`` reads::

    Test metric  Accuracy  0.9583
    Test metric  F1-macro  0.9561

Speed: images are decoded once per epoch in DataLoader workers (uint8, resized), moved to the
GPU with non-blocking copies and normalised there; on CUDA it uses AMP (bf16 where supported,
else fp16 with loss scaling), channels_last and cudnn.benchmark. On CPU it is deterministic for
a given --seed.

Started by ``torchrun`` (the entrypoint does that when TC_NPROC_PER_NODE or Kubeflow's PET_*
variables ask for it) it trains data-parallel: each process takes its share of every global
batch (``--batch-size`` is the global batch), DistributedDataParallel averages the gradients,
and rank 0 alone evaluates the whole val split, prints the score and writes the files. Also
written: ``<output-dir>/metrics.jsonl`` (one JSON line per epoch, then a final one).

Laid out like torchvision's ``references/classification/train.py``: the data, the model,
``train_one_epoch``, ``evaluate``, the export, and ``main`` with the epoch loop. The machinery
shared by the torchvision templates (seeds, loaders, AMP step, process group, metrics files)
is in ``tc_torch.py``, which tc manages.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torchvision
from torch import nn
from torch.utils.data import DataLoader, Dataset

from args import parse_args
from tc_data import loader_benchmark, read_rgb, to_chw
from tc_torch import (
    Epoch,
    EpochStats,
    Exported,
    MetricsLog,
    Optimization,
    Run,
    export_onnx,
    finish,
    load_matching_weights,
    load_splits,
    set_epoch,
    short_run_batchnorm,
    start,
    wrap_model,
)
from tc_weights import pinned_weights

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
MODEL_FILENAME = "model.onnx"

Item = tuple[Path, int]  # (image path, class index)


# ----------------------------------------------------------------------------- data
def load_split(images_dir: str | Path, labels_dir: str | Path,
               split: str) -> tuple[list[Item], list[dict[str, Any]]]:
    """Return ``(items, categories)``: items are ``(image path, class index)``."""
    labels_file = Path(labels_dir) / split / "labels.json"
    if not labels_file.is_file():
        return [], []
    coco = json.loads(labels_file.read_text())
    categories = sorted(coco.get("categories", []), key=lambda c: c["id"])
    index_of = {c["id"]: i for i, c in enumerate(categories)}
    first: dict[int, int] = {}
    for ann in sorted(coco.get("annotations", []), key=lambda a: a["id"]):
        if ann.get("category_id") in index_of:
            first.setdefault(ann["image_id"], index_of[ann["category_id"]])
    items = [(Path(images_dir) / split / img["file_name"], first[img["id"]])
             for img in sorted(coco.get("images", []), key=lambda i: i["id"]) if img["id"] in first]
    return items, categories


def read_image(path: Path, size: int) -> torch.Tensor:
    """Decode one image to a uint8 ``[3, size, size]`` tensor (grayscale/RGBA/palette -> RGB;
    a JPEG decoded at a reduced size first: tc_data.read_rgb)."""
    return to_chw(read_rgb(path, size).array)


class ImageDataset(Dataset[tuple[torch.Tensor, int]]):
    def __init__(self, items: Iterable[Item], size: int) -> None:
        self.items = list(items)
        self.size = size

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path, label = self.items[index]
        return read_image(path, self.size), label


class ToInput:
    """uint8 NCHW batches -> normalised float on the run's device (random horizontal flips
    there when ``augment``)."""

    def __init__(self, run: Run) -> None:
        self.device = run.device
        self.channels_last = run.channels_last
        self.mean = torch.tensor(MEAN, device=run.device).view(1, 3, 1, 1)
        self.std = torch.tensor(STD, device=run.device).view(1, 3, 1, 1)

    def __call__(self, batch: torch.Tensor, augment: bool = False) -> torch.Tensor:
        x = batch.to(self.device, non_blocking=True).float().div_(255)
        if augment:
            flip = torch.rand(x.shape[0], device=self.device) < 0.5
            x = torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)
        x = (x - self.mean) / self.std
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x


# ----------------------------------------------------------------------------- model
def build_model(architecture: str, num_classes: int, weights_path: str = "") -> nn.Module:
    """A torchvision model with random weights, or weights from a local file (never downloaded)."""
    model: nn.Module = torchvision.models.get_model(architecture, weights=None,
                                                    num_classes=num_classes)
    if weights_path:
        load_matching_weights(model, weights_path)
    short_run_batchnorm(model)
    return model


class Normalized(nn.Module):
    """Wraps the network for export: float RGB in [0, 1] -> class probabilities."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.model((x - self.mean) / self.std), dim=1)


# ----------------------------------------------------------------------------- train, evaluate
class Scores(NamedTuple):
    accuracy: float  # micro: the share of correct predictions
    f1_macro: float  # over the classes present in the targets or the predictions


def classification_metrics(preds: torch.Tensor, targets: torch.Tensor,
                           num_classes: int) -> Scores:
    """Accuracy (micro) and macro-F1 over the classes present in targets or predictions."""
    from torchmetrics.functional.classification import multiclass_accuracy, multiclass_f1_score

    if targets.numel() == 0:
        return Scores(0.0, 0.0)
    n = max(2, num_classes)
    acc = multiclass_accuracy(preds, targets, num_classes=n, average="micro")
    f1 = multiclass_f1_score(preds, targets, num_classes=n, average="macro")
    return Scores(float(acc), float(f1))


def train_one_epoch(run: Run, model: nn.Module, criterion: nn.Module, optim: Optimization,
                    loader: DataLoader[Any], to_input: ToInput) -> EpochStats:
    model.train()
    epoch = Epoch(run)
    for images, labels in epoch.batches(loader):
        x = to_input(images, augment=not run.args.no_augment)
        y = labels.to(run.device, non_blocking=True)
        with run.autocast():
            logits = model(x)
            loss = criterion(logits.float(), y)
        optim.step(loss)
        epoch.add(y.shape[0], loss.detach(), (logits.detach().argmax(1) == y).sum())
    return epoch.totals()


@torch.no_grad()
def evaluate(run: Run, model: nn.Module, loader: Iterable[tuple[torch.Tensor, torch.Tensor]],
             to_input: ToInput, num_classes: int) -> Scores:
    """Accuracy and macro-F1 of ``model`` on every batch of ``loader``."""
    model.eval()
    preds, targets = [], []
    for images, labels in loader:
        with run.autocast():
            logits = model(to_input(images))
        preds.append(logits.float().argmax(1).cpu())
        targets.append(labels)
    if not preds:
        return Scores(0.0, 0.0)
    return classification_metrics(torch.cat(preds), torch.cat(targets), num_classes)


# ----------------------------------------------------------------------------- export
def save_torchscript(model: nn.Module, model_filepath: str) -> Path:
    """Fallback of export_model: a TorchScript file next to the requested path (``.pt``)."""
    path = Path(model_filepath).with_suffix(".pt")
    model = model.cpu().eval()
    traced = torch.jit.trace(model, torch.rand(1, 3, 64, 64))  # type: ignore[no-untyped-call]
    traced.save(str(path))
    print(f"warning: ONNX export failed; saved TorchScript to {path} "
          "(set custom.json model_filepath to it)", flush=True)
    return path


def export(model: nn.Module, output_dir: str, img_size: int) -> Exported:
    wrapped = Normalized(model.float().cpu().to(memory_format=torch.contiguous_format))
    sample = torch.rand(1, 3, img_size, img_size, generator=torch.Generator().manual_seed(0))
    return export_onnx(wrapped, output_dir, MODEL_FILENAME, sample, save_torchscript)


# ----------------------------------------------------------------------------- main
def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    run = start(args)  # device, seeds, AMP; under torchrun also the process group

    splits = load_splits(run, load_split, "labelled training images")
    if splits is None:
        return 2
    names = [c["name"] for c in splits.categories]
    num_classes = len(names)
    run.log(f"data: {len(splits.train)} train / {len(splits.val)} val images, "
            f"{num_classes} classes: {', '.join(names)}")
    run.log(f"device: {run.device}  amp: {run.amp_dtype}  channels_last: {run.channels_last}  "
            f"workers: {run.workers}{run.dist.describe()}")
    train_loader = run.train_loader(ImageDataset(splits.train, args.img_size), args.batch_size)
    val_loader = run.val_loader(ImageDataset(splits.val, args.img_size), args.batch_size)
    if args.loader_benchmark:  # the data path alone, no model (docs/performance.md)
        return loader_benchmark(run, train_loader, splits.train[0][0])

    model = build_model(args.architecture, num_classes, pinned_weights(args.weights)).to(run.device)
    if run.channels_last:
        model = model.to(memory_format=torch.channels_last)
    net = wrap_model(model, run.dist)  # DistributedDataParallel under torchrun, else model
    optim = Optimization(model.parameters(), args, steps_per_epoch=len(train_loader),
                         amp_dtype=run.amp_dtype)
    criterion = nn.CrossEntropyLoss(label_smoothing=args.label_smoothing)
    to_input = ToInput(run)
    metrics_log = MetricsLog(args.output_dir, "accuracy", args.epochs, run.dist)

    for epoch in range(1, args.epochs + 1):
        set_epoch(train_loader, epoch)
        train = train_one_epoch(run, net, criterion, optim, train_loader, to_input)
        if run.dist.is_main:  # rank 0 evaluates the whole val split; the others wait
            val = evaluate(run, model, val_loader, to_input, num_classes)
            run.log(f"epoch {epoch}/{args.epochs}  train_loss {train.loss:.4f}  "
                    f"train_acc {train.accuracy:.4f}  val_acc {val.accuracy:.4f}  "
                    f"val_f1 {val.f1_macro:.4f}  lr {optim.lr:.2e}  "
                    f"{train.images_per_s:.0f} img/s  data_wait {100.0 * train.data_wait:.1f}%")
            metrics_log.epoch(epoch, train, optim.lr, val.accuracy)
        run.dist.barrier()

    if run.dist.is_main:
        final = evaluate(run, model, val_loader, to_input, num_classes)
        exported = export(model, args.output_dir, args.img_size)
        finish(run, metrics_log, exported, score=final.accuracy,
               metrics=dict(accuracy=final.accuracy, f1_macro=final.f1_macro, classes=names,
                            val_images=len(splits.val)),
               score_lines=[f"Test metric  Accuracy  {final.accuracy:.4f}",
                            f"Test metric  F1-macro  {final.f1_macro:.4f}"])
    run.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
