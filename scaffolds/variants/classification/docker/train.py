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
    """Return ``(items, categories)``: items are ``(image path, class index)``."""
    labels_file = Path(labels_dir) / split / "labels.json"
    if not labels_file.is_file():
        return [], []
    coco = json.loads(labels_file.read_text())
    categories = sorted(coco.get("categories", []), key=lambda c: c["id"])
    index_of = dict((c["id"], i) for i, c in enumerate(categories))
    first = dict()
    for ann in sorted(coco.get("annotations", []), key=lambda a: a["id"]):
        if ann.get("category_id") in index_of:
            first.setdefault(ann["image_id"], index_of[ann["category_id"]])
    items = []
    for img in sorted(coco.get("images", []), key=lambda i: i["id"]):
        if img["id"] in first:
            items.append((Path(images_dir) / split / img["file_name"], first[img["id"]]))
    return items, categories


def read_image(path, size):
    """Decode one image to a uint8 ``[3, size, size]`` tensor (grayscale/RGBA/palette -> RGB)."""
    with Image.open(path) as im:
        im = im.convert("RGB")
        if im.size != (size, size):
            im = im.resize((size, size), Image.BILINEAR)
        arr = np.asarray(im, dtype=np.uint8)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()


class ImageDataset(torch.utils.data.Dataset):
    def __init__(self, items, size):
        self.items = list(items)
        self.size = size

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        path, label = self.items[index]
        return read_image(path, self.size), label


# ----------------------------------------------------------------------------- model
def build_model(architecture, num_classes, weights_path=""):
    """A torchvision model with random weights, or weights from a local file (never downloaded)."""
    model = torchvision.models.get_model(architecture, weights=None, num_classes=num_classes)
    if weights_path:
        load_matching_weights(model, weights_path)
    short_run_batchnorm(model)
    return model


class Normalized(nn.Module):
    """Wraps the network for export: float RGB in [0, 1] -> class probabilities."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1))

    def forward(self, x):
        return torch.softmax(self.model((x - self.mean) / self.std), dim=1)


# ----------------------------------------------------------------------------- runtime
def to_input(batch, device, mean, std, channels_last, augment):
    """uint8 NCHW batch -> normalised float on ``device`` (flip augmentation on the device)."""
    x = batch.to(device, non_blocking=True).float().div_(255)
    if augment:
        flip = torch.rand(x.shape[0], device=device) < 0.5
        x = torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)
    x = (x - mean) / std
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


@torch.no_grad()
def predict(model, loader, device, mean, std, channels_last, amp_dtype):
    model.eval()
    preds, targets = [], []
    for images, labels in loader:
        x = to_input(images, device, mean, std, channels_last, augment=False)
        with torch.autocast(device.type, dtype=amp_dtype or torch.float32,
                            enabled=amp_dtype is not None):
            logits = model(x)
        preds.append(logits.float().argmax(1).cpu())
        targets.append(labels)
    if not preds:
        return torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long)
    return torch.cat(preds), torch.cat(targets)


def classification_metrics(preds, targets, num_classes):
    """Accuracy (micro) and macro-F1 over the classes present in targets or predictions."""
    from torchmetrics.functional.classification import multiclass_accuracy, multiclass_f1_score

    if targets.numel() == 0:
        return 0.0, 0.0
    n = max(2, num_classes)
    acc = multiclass_accuracy(preds, targets, num_classes=n, average="micro")
    f1 = multiclass_f1_score(preds, targets, num_classes=n, average="macro")
    return float(acc), float(f1)


def save_torchscript(model, model_filepath):
    """Fallback of export_model: a TorchScript file next to the requested path (``.pt``)."""
    path = Path(model_filepath).with_suffix(".pt")
    model = model.cpu().eval()
    traced = torch.jit.trace(model, torch.rand(1, 3, 64, 64))
    traced.save(str(path))
    print("warning: ONNX export failed; saved TorchScript to {} "
          "(set custom.json model_filepath to it)".format(path), flush=True)
    return path


def export(model, output_dir, img_size):
    wrapped = Normalized(model.float().cpu().to(memory_format=torch.contiguous_format))
    sample = torch.rand(1, 3, img_size, img_size, generator=torch.Generator().manual_seed(0))
    return export_onnx(wrapped, output_dir, MODEL_FILENAME, sample, save_torchscript)


# ----------------------------------------------------------------------------- main
def main(argv=None):
    args = parse_args(argv)
    run = start(args)  # device, seeds, AMP; under torchrun also the process group
    device, channels_last, amp_dtype = run.device, run.channels_last, run.amp_dtype

    splits = load_splits(run, load_split, "labelled training images")
    if splits is None:
        return 2
    train_items, val_items, categories = splits
    num_classes = len(categories)
    names = [c["name"] for c in categories]
    run.log("data: {} train / {} val images, {} classes: {}".format(
        len(train_items), len(val_items), num_classes, ", ".join(names)))
    run.log("device: {}  amp: {}  channels_last: {}  workers: {}{}".format(
        device, amp_dtype, channels_last, run.workers, run.dist.describe()))

    train_loader = make_train_loader(ImageDataset(train_items, args.img_size), args.batch_size,
                                     run.workers, run.cuda, args.seed, run.dist)
    val_loader = make_loader(ImageDataset(val_items, args.img_size), args.batch_size, False,
                             run.workers, run.cuda, args.seed)

    model = build_model(args.architecture, num_classes, args.weights).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    net = wrap_model(model, run.dist)  # DistributedDataParallel under torchrun, else model
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate,
                                  weight_decay=args.weight_decay)
    scheduler = one_cycle(optimizer, args, len(train_loader))
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    criterion = nn.CrossEntropyLoss(label_smoothing=args.label_smoothing)
    mean = torch.tensor(MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=device).view(1, 3, 1, 1)
    metrics_log = MetricsLog(args.output_dir, "accuracy", args.epochs, run.dist)

    for epoch in range(1, args.epochs + 1):
        net.train()
        set_epoch(train_loader, epoch)
        stats = Epoch(run)
        for images, labels in stats.batches(train_loader):
            x = to_input(images, device, mean, std, channels_last, augment=not args.no_augment)
            y = labels.to(device, non_blocking=True)
            with run.autocast():
                logits = net(x)
                loss = criterion(logits.float(), y)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            stats.add(y.shape[0], loss.detach(), (logits.detach().argmax(1) == y).sum())
        _, train_loss, train_acc, speed, wait, seconds = stats.totals()
        if run.dist.is_main:  # rank 0 evaluates the whole val split; the others wait
            preds, targets = predict(model, val_loader, device, mean, std, channels_last,
                                     amp_dtype)
            val_acc, val_f1 = classification_metrics(preds, targets, num_classes)
            lr = scheduler.get_last_lr()[0]
            run.log("epoch {}/{}  train_loss {:.4f}  train_acc {:.4f}  val_acc {:.4f}  "
                    "val_f1 {:.4f}  lr {:.2e}  {:.0f} img/s  data_wait {:.1f}%".format(
                        epoch, args.epochs, train_loss, train_acc, val_acc, val_f1, lr, speed,
                        100.0 * wait))
            metrics_log.epoch(epoch, train_loss, lr, val_acc, speed, wait, seconds)
        run.dist.barrier()

    if run.dist.is_main:
        preds, targets = predict(model, val_loader, device, mean, std, channels_last, amp_dtype)
        accuracy, f1 = classification_metrics(preds, targets, num_classes)
        train_seconds = time.perf_counter() - run.started
        model_filepath, result = export(model, args.output_dir, args.img_size)
        parity = getattr(result, "max_abs_diff", None)
        write_metrics_json(args.output_dir, dict(
            accuracy=accuracy, f1_macro=f1, classes=names, val_images=len(val_items),
            model=str(model_filepath), onnx_max_abs_diff=parity))
        metrics_log.final(accuracy, train_seconds, getattr(result, "path", model_filepath))
        if parity is not None:
            run.log("ONNX parity  max_abs_diff  {:.3e}".format(parity))
        run.log("Test metric  Accuracy  {:.4f}".format(accuracy))
        run.log("Test metric  F1-macro  {:.4f}".format(f1))
    run.dist.barrier()
    run.dist.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
