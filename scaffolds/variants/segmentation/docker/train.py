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
from tc_torch import (autocast_dtype, load_matching_weights, make_loader, resolve_workers,
                      seed_everything, short_run_batchnorm)

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
    from tc_export import export_model

    model_filepath = Path(output_dir) / MODEL_FILENAME
    wrapped = Exportable(model.float().cpu().to(memory_format=torch.contiguous_format)).eval()
    sample = torch.rand(1, 3, img_size, img_size, generator=torch.Generator().manual_seed(0))
    result = export_model(wrapped, str(model_filepath), "pytorch", save_torchscript,
                          sample_input=sample)
    return model_filepath, result


# ----------------------------------------------------------------------------- main
def main(argv=None):
    args = parse_args(argv)
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    seed_everything(args.seed, cuda)
    workers = resolve_workers(args.num_workers, cuda)
    amp_dtype = autocast_dtype(device, not args.no_amp)
    channels_last = cuda

    train_items, categories = load_split(args.images_dir, args.labels_dir, "train")
    val_items, val_categories = load_split(args.images_dir, args.labels_dir, "val")
    categories = categories or val_categories
    if not train_items:
        print("error: no training images in {}/train/labels.json".format(args.labels_dir),
              file=sys.stderr)
        return 2
    if not val_items:
        print("warning: the val split is empty; reporting metrics on the training split",
              flush=True)
        val_items = train_items
    num_classes = len(categories) + 1
    names = ["background"] + [c["name"] for c in categories]
    print("data: {} train / {} val images, {} classes: {}".format(
        len(train_items), len(val_items), num_classes, ", ".join(names)), flush=True)
    print("device: {}  amp: {}  channels_last: {}  workers: {}".format(
        device, amp_dtype, channels_last, workers), flush=True)

    train_loader = make_loader(SegmentationDataset(train_items, categories, args.img_size),
                               args.batch_size, True, workers, cuda, args.seed)
    val_loader = make_loader(SegmentationDataset(val_items, categories, args.img_size),
                             args.batch_size, False, workers, cuda, args.seed)

    model = build_model(args.architecture, num_classes, args.weights).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate,
                                  weight_decay=args.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=args.learning_rate, epochs=args.epochs,
        steps_per_epoch=max(1, len(train_loader)), pct_start=0.2)
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    criterion = nn.CrossEntropyLoss()
    mean = torch.tensor(MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=device).view(1, 3, 1, 1)

    for epoch in range(1, args.epochs + 1):
        model.train()
        start = time.perf_counter()
        wait = 0.0
        seen, loss_sum = 0, 0.0
        batches = iter(train_loader)
        while True:
            t0 = time.perf_counter()
            batch = next(batches, None)
            wait += time.perf_counter() - t0
            if batch is None:
                break
            images, masks = batch
            x = to_input(images, device, mean, std, channels_last)
            y = masks.to(device, non_blocking=True)
            if not args.no_augment:
                x, y = flip_pair(x, y)
            with torch.autocast(device.type, dtype=amp_dtype or torch.float32,
                                enabled=amp_dtype is not None):
                out = model(x)["out"]
                loss = criterion(out.float(), y)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            seen += y.shape[0]
            loss_sum += float(loss.detach()) * y.shape[0]
        if cuda:
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
        line = "epoch {}/{}  train_loss {:.4f}  lr {:.2e}  {:.0f} img/s  data_wait {:.1f}%".format(
            epoch, args.epochs, loss_sum / max(1, seen), scheduler.get_last_lr()[0],
            seen / max(elapsed, 1e-9), 100.0 * wait / max(elapsed, 1e-9))
        if epoch % max(1, args.eval_every) == 0 or epoch == args.epochs:
            miou, _ = evaluate(model, val_loader, device, mean, std, channels_last, amp_dtype,
                               num_classes)
            line += "  val_miou {:.4f}".format(miou)
        print(line, flush=True)

    miou, per_class = evaluate(model, val_loader, device, mean, std, channels_last, amp_dtype,
                               num_classes)
    Path(args.output_dir).mkdir(parents=True, exist_ok=True)
    model_filepath, result = export(model, args.output_dir, args.img_size)
    parity = getattr(result, "max_abs_diff", None)
    metrics = dict(miou=miou, iou_per_class=dict(zip(names, per_class)), classes=names,
                   val_images=len(val_items), model=str(model_filepath), onnx_max_abs_diff=parity)
    (Path(args.output_dir) / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    for name, iou in zip(names, per_class):
        print("IoU  {}  {:.4f}".format(name, iou), flush=True)
    if parity is not None:
        print("ONNX parity  max_abs_diff  {:.3e}".format(parity), flush=True)
    print("Test metric  mIoU  {:.4f}".format(miou), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
