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
    from tc_export import export_model

    model_filepath = Path(output_dir) / MODEL_FILENAME
    wrapped = Normalized(model.float().cpu().to(memory_format=torch.contiguous_format)).eval()
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
        print("error: no labelled training images in {}/train/labels.json".format(args.labels_dir),
              file=sys.stderr)
        return 2
    if not val_items:
        print("warning: the val split is empty; reporting metrics on the training split",
              flush=True)
        val_items = train_items
    num_classes = len(categories)
    names = [c["name"] for c in categories]
    print("data: {} train / {} val images, {} classes: {}".format(
        len(train_items), len(val_items), num_classes, ", ".join(names)), flush=True)
    print("device: {}  amp: {}  channels_last: {}  workers: {}".format(
        device, amp_dtype, channels_last, workers), flush=True)

    train_loader = make_loader(ImageDataset(train_items, args.img_size), args.batch_size, True,
                               workers, cuda, args.seed)
    val_loader = make_loader(ImageDataset(val_items, args.img_size), args.batch_size, False,
                             workers, cuda, args.seed)

    model = build_model(args.architecture, num_classes, args.weights).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate,
                                  weight_decay=args.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=args.learning_rate, epochs=args.epochs,
        steps_per_epoch=max(1, len(train_loader)), pct_start=0.2)
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    criterion = nn.CrossEntropyLoss(label_smoothing=args.label_smoothing)
    mean = torch.tensor(MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=device).view(1, 3, 1, 1)

    for epoch in range(1, args.epochs + 1):
        model.train()
        start = time.perf_counter()
        wait = 0.0
        seen, loss_sum, correct = 0, 0.0, 0
        batches = iter(train_loader)
        while True:
            t0 = time.perf_counter()
            batch = next(batches, None)
            wait += time.perf_counter() - t0
            if batch is None:
                break
            images, labels = batch
            x = to_input(images, device, mean, std, channels_last, augment=not args.no_augment)
            y = labels.to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=amp_dtype or torch.float32,
                                enabled=amp_dtype is not None):
                logits = model(x)
                loss = criterion(logits.float(), y)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            seen += y.shape[0]
            loss_sum += float(loss.detach()) * y.shape[0]
            correct += int((logits.detach().argmax(1) == y).sum())
        if cuda:
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
        preds, targets = predict(model, val_loader, device, mean, std, channels_last, amp_dtype)
        val_acc, val_f1 = classification_metrics(preds, targets, num_classes)
        print("epoch {}/{}  train_loss {:.4f}  train_acc {:.4f}  val_acc {:.4f}  val_f1 {:.4f}  "
              "lr {:.2e}  {:.0f} img/s  data_wait {:.1f}%".format(
                  epoch, args.epochs, loss_sum / max(1, seen), correct / max(1, seen), val_acc,
                  val_f1, scheduler.get_last_lr()[0], seen / max(elapsed, 1e-9),
                  100.0 * wait / max(elapsed, 1e-9)), flush=True)

    preds, targets = predict(model, val_loader, device, mean, std, channels_last, amp_dtype)
    accuracy, f1 = classification_metrics(preds, targets, num_classes)

    Path(args.output_dir).mkdir(parents=True, exist_ok=True)
    model_filepath, result = export(model, args.output_dir, args.img_size)
    parity = getattr(result, "max_abs_diff", None)
    metrics = dict(accuracy=accuracy, f1_macro=f1, classes=names, val_images=len(val_items),
                   model=str(model_filepath), onnx_max_abs_diff=parity)
    (Path(args.output_dir) / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    if parity is not None:
        print("ONNX parity  max_abs_diff  {:.3e}".format(parity), flush=True)
    print("Test metric  Accuracy  {:.4f}".format(accuracy), flush=True)
    print("Test metric  F1-macro  {:.4f}".format(f1), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
