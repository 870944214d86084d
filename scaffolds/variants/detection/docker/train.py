"""Train a torchvision Faster R-CNN detector on the dataset prepared by setup.py.

Input (written by setup.py): ``<images-dir>/{train,val}/<file>`` and
``<labels-dir>/{train,val}/labels.json`` (COCO boxes ``[x, y, w, h]``; images without
annotations are negatives and are kept). Output: ``<output-dir>/model.onnx`` (input: one image,
float32 RGB in [0, 1], ``[1, 3, img-size, img-size]``; outputs ``boxes`` ``[N, 4]`` as
x1, y1, x2, y2 pixels of the resized image, ``scores`` ``[N]``, ``labels`` ``[N]`` = category
index + 1 in id order) and ``<output-dir>/metrics.json``.

The score is mAP at IoU 0.5 (torchmetrics MeanAveragePrecision, pycocotools backend)::

    Test metric  mAP@0.5  0.8123

Speed: decoding in DataLoader workers, uint8 to the device with non-blocking copies; on CUDA
AMP (bf16/fp16) and cudnn.benchmark. Deterministic on CPU with --seed.

Started by ``torchrun`` (the entrypoint does that when TC_NPROC_PER_NODE or Kubeflow's PET_*
variables ask for it) it trains data-parallel: each process takes its share of every global
batch (``--batch-size`` is the global batch), DistributedDataParallel averages the gradients,
and rank 0 alone evaluates the whole val split, prints the score and writes the files. Also
written: ``<output-dir>/metrics.jsonl`` (one JSON line per epoch, then a final one).

Laid out like torchvision's ``references/detection/train.py``: the data, the model,
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

MODEL_FILENAME = "model.onnx"

Item = tuple[Path, dict[str, Any], list[dict[str, Any]]]  # (image path, COCO image, its boxes)
Target = dict[str, torch.Tensor]  # boxes [n, 4] (x1, y1, x2, y2), labels [n] (1..K)
Batch = tuple[torch.Tensor, list[Target]]


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
        if ann.get("bbox") and not ann.get("iscrowd", 0):
            by_image.setdefault(ann["image_id"], []).append(ann)
    items = [(Path(images_dir) / split / img["file_name"], img, by_image.get(img["id"], []))
             for img in sorted(coco.get("images", []), key=lambda i: i["id"])]
    return items, categories


class DetectionDataset(Dataset[tuple[torch.Tensor, Target]]):
    """uint8 ``[3, S, S]`` images with boxes (x1, y1, x2, y2, resized) and labels 1..K."""

    def __init__(self, items: Iterable[Item], categories: list[dict[str, Any]],
                 size: int) -> None:
        self.items = list(items)
        self.size = size
        self.label_of = {c["id"]: i + 1 for i, c in enumerate(categories)}

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, Target]:
        path, _image, annotations = self.items[index]
        arr, (w, h), _ = read_rgb(path, self.size)  # boxes are in the file's pixels
        sx, sy = self.size / float(w), self.size / float(h)
        boxes, labels = [], []
        for ann in annotations:
            x, y, bw, bh = (float(v) for v in ann["bbox"])
            x1, y1 = max(0.0, x * sx), max(0.0, y * sy)
            x2, y2 = min(self.size, (x + bw) * sx), min(self.size, (y + bh) * sy)
            if x2 - x1 >= 1 and y2 - y1 >= 1 and ann["category_id"] in self.label_of:
                boxes.append([x1, y1, x2, y2])
                labels.append(self.label_of[ann["category_id"]])
        target = {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                  "labels": torch.tensor(labels, dtype=torch.int64)}
        return to_chw(arr), target


def collate(batch: list[tuple[torch.Tensor, Target]]) -> Batch:
    return torch.stack([b[0] for b in batch]), [b[1] for b in batch]


def to_device(images: torch.Tensor, targets: list[Target],
              device: torch.device) -> tuple[torch.Tensor, list[Target]]:
    """uint8 images -> float in [0, 1] on ``device``, with their targets."""
    x = images.to(device, non_blocking=True).float().div_(255)
    t = [{k: v.to(device, non_blocking=True) for k, v in tgt.items()} for tgt in targets]
    return x, t


def flip_batch(x: torch.Tensor, targets: list[Target]) -> tuple[torch.Tensor, list[Target]]:
    """Random horizontal flip of images and their boxes."""
    width = x.shape[-1]
    flips = (torch.rand(x.shape[0]) < 0.5).tolist()
    out = []
    for i, flip in enumerate(flips):
        if flip:
            boxes = targets[i]["boxes"].clone()
            boxes[:, [0, 2]] = width - targets[i]["boxes"][:, [2, 0]]
            targets[i] = dict(targets[i], boxes=boxes)
            out.append(x[i].flip(-1))
        else:
            out.append(x[i])
    return torch.stack(out), targets


# ----------------------------------------------------------------------------- model
def build_model(architecture: str, num_classes: int, img_size: int,
                weights_path: str = "") -> nn.Module:
    """Faster R-CNN with random weights (or a local weights file); ``num_classes`` includes
    the background."""
    from torchvision.models.detection import FasterRCNN
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.backbone_utils import resnet_fpn_backbone
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead

    # Sized for small images and few objects: fewer proposals and sampled RoIs than the
    # COCO defaults (which are tuned for 800-pixel images with many objects).
    settings: dict[str, Any] = dict(
        min_size=img_size, max_size=img_size, box_batch_size_per_image=64,
        rpn_pre_nms_top_n_train=400, rpn_post_nms_top_n_train=200,
        rpn_pre_nms_top_n_test=200, rpn_post_nms_top_n_test=100, box_detections_per_img=50)
    model: nn.Module
    if architecture == "fasterrcnn_resnet18_fpn":
        backbone = resnet_fpn_backbone(backbone_name="resnet18", weights=None,
                                       trainable_layers=5)
        scale = max(1, img_size // 96)
        anchors = AnchorGenerator(
            sizes=tuple((s * scale,) for s in (16, 32, 64, 128, 256)),
            aspect_ratios=((0.5, 1.0, 2.0),) * 5)
        # a 256-wide box head instead of torchvision's 1024 (12544 x 1024 weights dominate
        # the step time at this image size)
        box_head = TwoMLPHead(backbone.out_channels * 7 * 7, 256)
        model = FasterRCNN(backbone, rpn_anchor_generator=anchors, box_head=box_head,
                           box_predictor=FastRCNNPredictor(256, num_classes), **settings)
    else:
        model = torchvision.models.get_model(architecture, weights=None, weights_backbone=None,
                                             num_classes=num_classes, trainable_backbone_layers=6,
                                             **settings)
    if weights_path:
        load_matching_weights(model, weights_path)
    short_run_batchnorm(model)
    return model


class Exportable(nn.Module):
    """One image ``[1, 3, S, S]`` in [0, 1] -> (boxes, scores, labels) tensors."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        out = self.model(list(x.unbind(0)))[0]
        return out["boxes"], out["scores"], out["labels"]


# ----------------------------------------------------------------------------- train, evaluate
class Scores(NamedTuple):
    map50: float  # mAP at IoU 0.5 (the score)
    map: float  # mAP averaged over IoU 0.5:0.95 (COCO's)


def train_one_epoch(run: Run, model: nn.Module, optim: Optimization,
                    loader: DataLoader[Any]) -> EpochStats:
    model.train()
    epoch = Epoch(run)
    for images, targets in epoch.batches(loader):
        x, t = to_device(images, targets, run.device)
        if not run.args.no_augment:
            x, t = flip_batch(x, t)
        with run.autocast():
            losses = model(list(x.unbind(0)), t)  # torchvision's detection losses, a dict
            loss: torch.Tensor = sum(v.float() for v in losses.values())
        optim.step(loss)
        epoch.add(x.shape[0], loss.detach())
    return epoch.totals()


@torch.no_grad()
def evaluate(run: Run, model: nn.Module, loader: Iterable[Batch]) -> Scores:
    """mAP@0.5 and mAP@[.5:.95] over the val split (torchmetrics MeanAveragePrecision)."""
    from torchmetrics.detection import MeanAveragePrecision

    metric = MeanAveragePrecision(iou_type="bbox", backend="pycocotools")
    model.eval()
    seen = 0
    for images, targets in loader:
        x, t = to_device(images, targets, run.device)
        with run.autocast():
            preds = model(list(x.unbind(0)))
        metric.update([{k: (v if k == "labels" else v.float()).cpu() for k, v in p.items()}
                       for p in preds],
                      [{k: v.cpu() for k, v in g.items()} for g in t])
        seen += images.shape[0]
    if seen == 0:
        return Scores(0.0, 0.0)
    result = metric.compute()
    return Scores(max(0.0, float(result["map_50"])), max(0.0, float(result["map"])))


# ----------------------------------------------------------------------------- export
def save_torchscript(model: nn.Module, model_filepath: str) -> Path:
    """Fallback of export_model: TorchScript (scripted) next to the requested path (``.pt``)."""
    path = Path(model_filepath).with_suffix(".pt")
    torch.jit.script(model.cpu().eval()).save(str(path))  # type: ignore[no-untyped-call]
    print(f"warning: ONNX export failed; saved TorchScript to {path} "
          "(set custom.json model_filepath to it)", flush=True)
    return path


def export(model: nn.Module, output_dir: str, sample: torch.Tensor) -> Exported:
    wrapped = Exportable(model.float().cpu())
    return export_onnx(wrapped, output_dir, MODEL_FILENAME, sample, save_torchscript)


# ----------------------------------------------------------------------------- main
def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    run = start(args, channels_last=False)  # device, seeds, AMP; under torchrun the group

    splits = load_splits(run, load_split)
    if splits is None:
        return 2
    names = [c["name"] for c in splits.categories]
    run.log(f"data: {len(splits.train)} train / {len(splits.val)} val images, "
            f"{len(names)} classes: {', '.join(names)}")
    run.log(f"device: {run.device}  amp: {run.amp_dtype}  workers: {run.workers}"
            f"{run.dist.describe()}")
    train_set = DetectionDataset(splits.train, splits.categories, args.img_size)
    val_set = DetectionDataset(splits.val, splits.categories, args.img_size)
    train_loader = run.train_loader(train_set, args.batch_size, collate_fn=collate)
    val_loader = run.val_loader(val_set, args.batch_size, collate_fn=collate)
    if args.loader_benchmark:  # the data path alone, no model (docs/performance.md)
        return loader_benchmark(run, train_loader, splits.train[0][0])

    model = build_model(args.architecture, len(names) + 1, args.img_size,
                        pinned_weights(args.weights)).to(run.device)
    net = wrap_model(model, run.dist)  # DistributedDataParallel under torchrun, else model
    optim = Optimization(model.parameters(), args, steps_per_epoch=len(train_loader),
                         amp_dtype=run.amp_dtype, clip_grad_norm=10.0)
    metrics_log = MetricsLog(args.output_dir, "map50", args.epochs, run.dist)

    for epoch in range(1, args.epochs + 1):
        set_epoch(train_loader, epoch)
        train = train_one_epoch(run, net, optim, train_loader)
        if run.dist.is_main:  # rank 0 evaluates the whole val split; the others wait
            line = (f"epoch {epoch}/{args.epochs}  train_loss {train.loss:.4f}  "
                    f"lr {optim.lr:.2e}  {train.images_per_s:.0f} img/s  "
                    f"data_wait {100.0 * train.data_wait:.1f}%")
            map50 = None  # metrics.jsonl: null in the epochs without evaluation
            if epoch % max(1, args.eval_every) == 0 or epoch == args.epochs:
                map50 = evaluate(run, model, val_loader).map50
                line += f"  val_map50 {map50:.4f}"
            run.log(line)
            metrics_log.epoch(epoch, train, optim.lr, map50)
        run.dist.barrier()

    if run.dist.is_main:
        final = evaluate(run, model, val_loader)
        exported = export(model, args.output_dir, val_set[0][0].unsqueeze(0).float() / 255)
        finish(run, metrics_log, exported, score=final.map50,
               metrics=dict(map50=final.map50, map=final.map, classes=names,
                            val_images=len(splits.val)),
               details=[f"Test metric  mAP@[.5:.95]  {final.map:.4f}"],
               score_lines=[f"Test metric  mAP@0.5  {final.map50:.4f}"])
    run.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
