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
"""

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torchvision
from PIL import Image
from torch import nn

from args import parse_args
from tc_torch import (Epoch, MetricsLog, export_onnx, load_matching_weights, load_splits,
                      make_loader, make_train_loader, one_cycle, set_epoch, short_run_batchnorm,
                      start, wrap_model, write_metrics_json)

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
MODEL_FILENAME = "model.onnx"


# ----------------------------------------------------------------------------- data
def load_split(images_dir, labels_dir, split):
    """Return ``(items, categories)``: items are ``(image path, image dict, annotations)``."""
    labels_file = Path(labels_dir) / split / "labels.json"
    if not labels_file.is_file():
        return [], []
    coco = json.loads(labels_file.read_text())
    categories = sorted(coco.get("categories", []), key=lambda c: c["id"])
    by_image = dict()
    for ann in sorted(coco.get("annotations", []), key=lambda a: a["id"]):
        if ann.get("segmentation"):
            by_image.setdefault(ann["image_id"], []).append(ann)
    items = []
    for img in sorted(coco.get("images", []), key=lambda i: i["id"]):
        anns = by_image.get(img["id"], [])
        items.append((Path(images_dir) / split / img["file_name"], img, anns))
    return items, categories


def rasterize(image, annotations, class_of):
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


class SegmentationDataset(torch.utils.data.Dataset):
    def __init__(self, items, categories, size):
        self.items = list(items)
        self.size = size
        self.class_of = dict((c["id"], i + 1) for i, c in enumerate(categories))

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        path, image, annotations = self.items[index]
        with Image.open(path) as im:
            im = im.convert("RGB")
            if "width" not in image or "height" not in image:
                image = dict(image, width=im.size[0], height=im.size[1])
            mask = Image.fromarray(rasterize(image, annotations, self.class_of))
            if mask.size != im.size:
                mask = mask.resize(im.size, Image.NEAREST)
            if im.size != (self.size, self.size):
                im = im.resize((self.size, self.size), Image.BILINEAR)
                mask = mask.resize((self.size, self.size), Image.NEAREST)
            arr = np.asarray(im, dtype=np.uint8)
        x = torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()
        y = torch.from_numpy(np.asarray(mask, dtype=np.int64).copy())
        return x, y


# ----------------------------------------------------------------------------- model
def build_model(architecture, num_classes, weights_path=""):
    """A torchvision segmentation model with random weights, or weights from a local file."""
    model = torchvision.models.get_model(architecture, weights=None, weights_backbone=None,
                                         num_classes=num_classes)
    if weights_path:
        load_matching_weights(model, weights_path)
    short_run_batchnorm(model)
    return model


class Exportable(nn.Module):
    """Float RGB in [0, 1] -> per-pixel class probabilities (a tensor, not a dict)."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1))

    def forward(self, x):
        return torch.softmax(self.model((x - self.mean) / self.std)["out"], dim=1)


def to_input(batch, device, mean, std, channels_last):
    x = batch.to(device, non_blocking=True).float().div_(255)
    x = (x - mean) / std
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def flip_pair(x, y):
    """Random horizontal flip of images and masks together (on the device)."""
    flip = torch.rand(x.shape[0], device=x.device) < 0.5
    x = torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)
    y = torch.where(flip.view(-1, 1, 1), y.flip(2), y)
    return x, y


@torch.no_grad()
def evaluate(model, loader, device, mean, std, channels_last, amp_dtype, num_classes):
    """Mean IoU over the val split (torchmetrics, classes absent from preds and target ignored)."""
    from torchmetrics.classification import MulticlassJaccardIndex

    metric = MulticlassJaccardIndex(num_classes=max(2, num_classes), average="macro").to(device)
    pixel_acc = MulticlassJaccardIndex(num_classes=max(2, num_classes), average="none").to(device)
    model.eval()
    seen = 0
    for images, masks in loader:
        x = to_input(images, device, mean, std, channels_last)
        with torch.autocast(device.type, dtype=amp_dtype or torch.float32,
                            enabled=amp_dtype is not None):
            out = model(x)["out"]
        pred = out.float().argmax(1)
        target = masks.to(device, non_blocking=True)
        metric.update(pred, target)
        pixel_acc.update(pred, target)
        seen += images.shape[0]
    if seen == 0:
        return 0.0, []
    return float(metric.compute()), [float(v) for v in pixel_acc.compute()]


def save_torchscript(model, model_filepath):
    """Fallback of export_model: a TorchScript file next to the requested path (``.pt``)."""
    path = Path(model_filepath).with_suffix(".pt")
    traced = torch.jit.trace(model.cpu().eval(), torch.rand(1, 3, 64, 64), strict=False)
    traced.save(str(path))
    print("warning: ONNX export failed; saved TorchScript to {} "
          "(set custom.json model_filepath to it)".format(path), flush=True)
    return path


def export(model, output_dir, img_size):
    wrapped = Exportable(model.float().cpu().to(memory_format=torch.contiguous_format))
    sample = torch.rand(1, 3, img_size, img_size, generator=torch.Generator().manual_seed(0))
    return export_onnx(wrapped, output_dir, MODEL_FILENAME, sample, save_torchscript)


# ----------------------------------------------------------------------------- main
def main(argv=None):
    args = parse_args(argv)
    run = start(args)  # device, seeds, AMP; under torchrun also the process group
    device, channels_last, amp_dtype = run.device, run.channels_last, run.amp_dtype

    splits = load_splits(run, load_split)
    if splits is None:
        return 2
    train_items, val_items, categories = splits
    num_classes = len(categories) + 1
    names = ["background"] + [c["name"] for c in categories]
    run.log("data: {} train / {} val images, {} classes: {}".format(
        len(train_items), len(val_items), num_classes, ", ".join(names)))
    run.log("device: {}  amp: {}  channels_last: {}  workers: {}{}".format(
        device, amp_dtype, channels_last, run.workers, run.dist.describe()))

    train_loader = make_train_loader(SegmentationDataset(train_items, categories, args.img_size),
                                     args.batch_size, run.workers, run.cuda, args.seed, run.dist)
    val_loader = make_loader(SegmentationDataset(val_items, categories, args.img_size),
                             args.batch_size, False, run.workers, run.cuda, args.seed)

    model = build_model(args.architecture, num_classes, args.weights).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    net = wrap_model(model, run.dist)  # DistributedDataParallel under torchrun, else model
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate,
                                  weight_decay=args.weight_decay)
    scheduler = one_cycle(optimizer, args, len(train_loader))
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    criterion = nn.CrossEntropyLoss()
    mean = torch.tensor(MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=device).view(1, 3, 1, 1)
    metrics_log = MetricsLog(args.output_dir, "miou", args.epochs, run.dist)

    for epoch in range(1, args.epochs + 1):
        net.train()
        set_epoch(train_loader, epoch)
        stats = Epoch(run)
        for images, masks in stats.batches(train_loader):
            x = to_input(images, device, mean, std, channels_last)
            y = masks.to(device, non_blocking=True)
            if not args.no_augment:
                x, y = flip_pair(x, y)
            with run.autocast():
                out = net(x)["out"]
                loss = criterion(out.float(), y)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            stats.add(y.shape[0], loss.detach())
        _, train_loss, _, speed, wait, seconds = stats.totals()
        if run.dist.is_main:  # rank 0 evaluates the whole val split; the others wait
            lr = scheduler.get_last_lr()[0]
            line = "epoch {}/{}  train_loss {:.4f}  lr {:.2e}  {:.0f} img/s  data_wait {:.1f}%" \
                .format(epoch, args.epochs, train_loss, lr, speed, 100.0 * wait)
            miou = None  # metrics.jsonl: null in the epochs without evaluation
            if epoch % max(1, args.eval_every) == 0 or epoch == args.epochs:
                miou, _ = evaluate(model, val_loader, device, mean, std, channels_last,
                                   amp_dtype, num_classes)
                line += "  val_miou {:.4f}".format(miou)
            run.log(line)
            metrics_log.epoch(epoch, train_loss, lr, miou, speed, wait, seconds)
        run.dist.barrier()

    if run.dist.is_main:
        miou, per_class = evaluate(model, val_loader, device, mean, std, channels_last,
                                   amp_dtype, num_classes)
        train_seconds = time.perf_counter() - run.started
        model_filepath, result = export(model, args.output_dir, args.img_size)
        parity = getattr(result, "max_abs_diff", None)
        write_metrics_json(args.output_dir, dict(
            miou=miou, iou_per_class=dict(zip(names, per_class)), classes=names,
            val_images=len(val_items), model=str(model_filepath), onnx_max_abs_diff=parity))
        metrics_log.final(miou, train_seconds, getattr(result, "path", model_filepath))
        for name, iou in zip(names, per_class):
            run.log("IoU  {}  {:.4f}".format(name, iou))
        if parity is not None:
            run.log("ONNX parity  max_abs_diff  {:.3e}".format(parity))
        run.log("Test metric  mIoU  {:.4f}".format(miou))
    run.dist.barrier()
    run.dist.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
