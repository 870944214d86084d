"""Train a torchvision semantic segmentation network on the dataset prepared by setup.py.

Input (written by setup.py): ``<images-dir>/{train,val}/<file>`` and
``<labels-dir>/{train,val}/labels.json`` (COCO with ``segmentation`` polygons ``[[x1, y1, ...]]``
or RLE ``{counts, size}``; images without annotations are all background). Class 0 is the
background, class ``i`` is the ``i``-th category (by id); later annotations paint over earlier.
Output: ``<output-dir>/model.onnx`` (input: float32 RGB in [0, 1], ``[N, 3, img-size, img-size]``;
output: per-pixel class probabilities ``[N, K + 1, img-size, img-size]``) and
``<output-dir>/metrics.json``.

The score is the mean IoU (torchmetrics, macro over the classes present in the val masks or
predictions, background included)::

    Test metric  mIoU  0.8123

Speed: decoding/rasterising in DataLoader workers, uint8 to the device with non-blocking copies;
on CUDA AMP (bf16/fp16), channels_last and cudnn.benchmark. Deterministic on CPU with --seed.

Started by ``torchrun`` (the entrypoint does that when TC_NPROC_PER_NODE or Kubeflow's PET_*
variables ask for it) it trains data-parallel: each process takes its share of every global
batch (``--batch-size`` is the global batch), DistributedDataParallel averages the gradients,
and rank 0 alone evaluates the whole val split, prints the score and writes the files. Also
written: ``<output-dir>/metrics.jsonl`` (one JSON line per epoch, then a final one).

Laid out like torchvision's ``references/segmentation/train.py``: the data, the model,
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

import numpy as np
import torch
import torchvision
from PIL import Image
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

Item = tuple[Path, dict[str, Any], list[dict[str, Any]]]  # (image path, COCO image, its shapes)


# ----------------------------------------------------------------------------- data
def load_split(images_dir: str | Path, labels_dir: str | Path,
               split: str) -> tuple[list[Item], list[dict[str, Any]]]:
    """Return ``(items, categories)``: items are ``(image path, image dict, annotations)``."""
    labels_file = Path(labels_dir) / split / "labels.json"
    if not labels_file.is_file():
        return [], []
    coco = json.loads(labels_file.read_text())
    categories = sorted(coco.get("categories", []), key=lambda c: c["id"])
    by_image: dict[int, list[dict[str, Any]]] = {}
    for ann in sorted(coco.get("annotations", []), key=lambda a: a["id"]):
        if ann.get("segmentation"):
            by_image.setdefault(ann["image_id"], []).append(ann)
    items = [(Path(images_dir) / split / img["file_name"], img, by_image.get(img["id"], []))
             for img in sorted(coco.get("images", []), key=lambda i: i["id"])]
    return items, categories


def rasterize(image: dict[str, Any], annotations: list[dict[str, Any]],
              class_of: dict[int, int]) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """Class-index mask ``[height, width]`` (uint8) of one image's annotations (pycocotools)."""
    from pycocotools import mask as mask_utils

    h, w = int(image["height"]), int(image["width"])
    out = np.zeros((h, w), dtype=np.uint8)
    for ann in annotations:
        seg = ann["segmentation"]
        if isinstance(seg, list):
            polys = [p for p in seg if len(p) >= 6]
            if not polys:
                continue
            rle = mask_utils.merge(mask_utils.frPyObjects(polys, h, w))
        elif isinstance(seg.get("counts"), list):
            rle = mask_utils.frPyObjects(seg, h, w)
        else:
            rle = seg
        m = mask_utils.decode(rle).astype(bool)
        if m.ndim == 3:
            m = m.any(axis=2)
        out[m] = class_of[ann["category_id"]]
    return out


class SegmentationDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """uint8 ``[3, S, S]`` images with int64 ``[S, S]`` class masks (0 = background)."""

    def __init__(self, items: Iterable[Item], categories: list[dict[str, Any]],
                 size: int) -> None:
        self.items = list(items)
        self.size = size
        self.class_of = {c["id"]: i + 1 for i, c in enumerate(categories)}

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        path, image, annotations = self.items[index]
        arr, (w, h), _ = read_rgb(path, self.size)
        if "width" not in image or "height" not in image:
            image = dict(image, width=w, height=h)
        mask = Image.fromarray(rasterize(image, annotations, self.class_of))
        if mask.size != (self.size, self.size):
            mask = mask.resize((self.size, self.size), Image.Resampling.NEAREST)
        x = to_chw(arr)
        y = torch.from_numpy(np.asarray(mask, dtype=np.int64).copy())
        return x, y


class ToInput:
    """uint8 NCHW batches -> normalised float on the run's device."""

    def __init__(self, run: Run) -> None:
        self.device = run.device
        self.channels_last = run.channels_last
        self.mean = torch.tensor(MEAN, device=run.device).view(1, 3, 1, 1)
        self.std = torch.tensor(STD, device=run.device).view(1, 3, 1, 1)

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        x = batch.to(self.device, non_blocking=True).float().div_(255)
        x = (x - self.mean) / self.std
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x


def flip_pair(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Random horizontal flip of images and masks together (on the device)."""
    flip = torch.rand(x.shape[0], device=x.device) < 0.5
    x = torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)
    y = torch.where(flip.view(-1, 1, 1), y.flip(2), y)
    return x, y


# ----------------------------------------------------------------------------- model
def build_model(architecture: str, num_classes: int, weights_path: str = "") -> nn.Module:
    """A torchvision segmentation model with random weights, or weights from a local file."""
    model: nn.Module = torchvision.models.get_model(
        architecture, weights=None, weights_backbone=None, num_classes=num_classes)
    if weights_path:
        load_matching_weights(model, weights_path)
    short_run_batchnorm(model)
    return model


class Exportable(nn.Module):
    """Float RGB in [0, 1] -> per-pixel class probabilities (a tensor, not a dict)."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.model((x - self.mean) / self.std)["out"], dim=1)


# ----------------------------------------------------------------------------- train, evaluate
class Scores(NamedTuple):
    miou: float  # mean IoU over the classes present in the predictions or the targets
    iou_per_class: list[float]  # background first


def train_one_epoch(run: Run, model: nn.Module, criterion: nn.Module, optim: Optimization,
                    loader: DataLoader[Any], to_input: ToInput) -> EpochStats:
    model.train()
    epoch = Epoch(run)
    for images, masks in epoch.batches(loader):
        x = to_input(images)
        y = masks.to(run.device, non_blocking=True)
        if not run.args.no_augment:
            x, y = flip_pair(x, y)
        with run.autocast():
            out = model(x)["out"]
            loss = criterion(out.float(), y)
        optim.step(loss)
        epoch.add(y.shape[0], loss.detach())
    return epoch.totals()


@torch.no_grad()
def evaluate(run: Run, model: nn.Module, loader: Iterable[tuple[torch.Tensor, torch.Tensor]],
             to_input: ToInput, num_classes: int) -> Scores:
    """Mean and per-class IoU over the val split (torchmetrics; classes absent from both the
    predictions and the targets are left out of the mean)."""
    from torchmetrics.classification import MulticlassJaccardIndex

    n = max(2, num_classes)
    mean_iou = MulticlassJaccardIndex(num_classes=n, average="macro").to(run.device)
    class_iou = MulticlassJaccardIndex(num_classes=n, average="none").to(run.device)
    model.eval()
    seen = 0
    for images, masks in loader:
        with run.autocast():
            out = model(to_input(images))["out"]
        pred = out.float().argmax(1)
        target = masks.to(run.device, non_blocking=True)
        mean_iou.update(pred, target)
        class_iou.update(pred, target)
        seen += images.shape[0]
    if seen == 0:
        return Scores(0.0, [])
    return Scores(float(mean_iou.compute()), [float(v) for v in class_iou.compute()])


# ----------------------------------------------------------------------------- export
def save_torchscript(model: nn.Module, model_filepath: str) -> Path:
    """Fallback of export_model: a TorchScript file next to the requested path (``.pt``)."""
    path = Path(model_filepath).with_suffix(".pt")
    traced = torch.jit.trace(  # type: ignore[no-untyped-call]
        model.cpu().eval(), torch.rand(1, 3, 64, 64), strict=False)
    traced.save(str(path))
    print(f"warning: ONNX export failed; saved TorchScript to {path} "
          "(set custom.json model_filepath to it)", flush=True)
    return path


def export(model: nn.Module, output_dir: str, img_size: int) -> Exported:
    wrapped = Exportable(model.float().cpu().to(memory_format=torch.contiguous_format))
    sample = torch.rand(1, 3, img_size, img_size, generator=torch.Generator().manual_seed(0))
    return export_onnx(wrapped, output_dir, MODEL_FILENAME, sample, save_torchscript)


# ----------------------------------------------------------------------------- main
def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    run = start(args)  # device, seeds, AMP; under torchrun also the process group

    splits = load_splits(run, load_split)
    if splits is None:
        return 2
    num_classes = len(splits.categories) + 1
    names = ["background"] + [c["name"] for c in splits.categories]
    run.log(f"data: {len(splits.train)} train / {len(splits.val)} val images, "
            f"{num_classes} classes: {', '.join(names)}")
    run.log(f"device: {run.device}  amp: {run.amp_dtype}  channels_last: {run.channels_last}  "
            f"workers: {run.workers}{run.dist.describe()}")
    train_loader = run.train_loader(
        SegmentationDataset(splits.train, splits.categories, args.img_size), args.batch_size)
    val_loader = run.val_loader(
        SegmentationDataset(splits.val, splits.categories, args.img_size), args.batch_size)
    if args.loader_benchmark:  # the data path alone, no model (docs/performance.md)
        return loader_benchmark(run, train_loader, splits.train[0][0])

    model = build_model(args.architecture, num_classes, pinned_weights(args.weights)).to(run.device)
    if run.channels_last:
        model = model.to(memory_format=torch.channels_last)
    net = wrap_model(model, run.dist)  # DistributedDataParallel under torchrun, else model
    optim = Optimization(model.parameters(), args, steps_per_epoch=len(train_loader),
                         amp_dtype=run.amp_dtype)
    criterion = nn.CrossEntropyLoss()
    to_input = ToInput(run)
    metrics_log = MetricsLog(args.output_dir, "miou", args.epochs, run.dist)

    for epoch in range(1, args.epochs + 1):
        set_epoch(train_loader, epoch)
        train = train_one_epoch(run, net, criterion, optim, train_loader, to_input)
        if run.dist.is_main:  # rank 0 evaluates the whole val split; the others wait
            line = (f"epoch {epoch}/{args.epochs}  train_loss {train.loss:.4f}  "
                    f"lr {optim.lr:.2e}  {train.images_per_s:.0f} img/s  "
                    f"data_wait {100.0 * train.data_wait:.1f}%")
            miou = None  # metrics.jsonl: null in the epochs without evaluation
            if epoch % max(1, args.eval_every) == 0 or epoch == args.epochs:
                miou = evaluate(run, model, val_loader, to_input, num_classes).miou
                line += f"  val_miou {miou:.4f}"
            run.log(line)
            metrics_log.epoch(epoch, train, optim.lr, miou)
        run.dist.barrier()

    if run.dist.is_main:
        final = evaluate(run, model, val_loader, to_input, num_classes)
        exported = export(model, args.output_dir, args.img_size)
        per_class = dict(zip(names, final.iou_per_class, strict=False))  # {} without val images
        finish(run, metrics_log, exported, score=final.miou,
               metrics=dict(miou=final.miou, iou_per_class=per_class, classes=names,
                            val_images=len(splits.val)),
               details=[f"IoU  {name}  {iou:.4f}" for name, iou in per_class.items()],
               score_lines=[f"Test metric  mIoU  {final.miou:.4f}"])
    run.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
