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
        if ann.get("bbox") and not ann.get("iscrowd", 0):
            by_image.setdefault(ann["image_id"], []).append(ann)
    items = []
    for img in sorted(coco.get("images", []), key=lambda i: i["id"]):
        anns = by_image.get(img["id"], [])
        items.append((Path(images_dir) / split / img["file_name"], img, anns))
    return items, categories


class DetectionDataset(torch.utils.data.Dataset):
    """uint8 ``[3, S, S]`` images with boxes (x1, y1, x2, y2, resized) and labels 1..K."""

    def __init__(self, items, categories, size):
        self.items = list(items)
        self.size = size
        self.label_of = dict((c["id"], i + 1) for i, c in enumerate(categories))

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        path, _image, annotations = self.items[index]
        with Image.open(path) as im:
            im = im.convert("RGB")
            w, h = im.size
            if im.size != (self.size, self.size):
                im = im.resize((self.size, self.size), Image.BILINEAR)
            arr = np.asarray(im, dtype=np.uint8)
        sx, sy = self.size / float(w), self.size / float(h)
        boxes, labels = [], []
        for ann in annotations:
            x, y, bw, bh = (float(v) for v in ann["bbox"])
            x1, y1 = max(0.0, x * sx), max(0.0, y * sy)
            x2, y2 = min(self.size, (x + bw) * sx), min(self.size, (y + bh) * sy)
            if x2 - x1 >= 1 and y2 - y1 >= 1 and ann["category_id"] in self.label_of:
                boxes.append([x1, y1, x2, y2])
                labels.append(self.label_of[ann["category_id"]])
        target = dict(
            boxes=torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            labels=torch.tensor(labels, dtype=torch.int64),
        )
        return torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous(), target


def collate(batch):
    return torch.stack([b[0] for b in batch]), [b[1] for b in batch]


# ----------------------------------------------------------------------------- model
def build_model(architecture, num_classes, img_size, weights_path=""):
    """Faster R-CNN with random weights (or a local weights file); ``num_classes`` includes
    the background."""
    from torchvision.models.detection import FasterRCNN
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.backbone_utils import resnet_fpn_backbone
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead

    # Sized for small images and few objects: fewer proposals and sampled RoIs than the
    # COCO defaults (which are tuned for 800-pixel images with many objects).
    settings = dict(min_size=img_size, max_size=img_size, box_batch_size_per_image=64,
                    rpn_pre_nms_top_n_train=400, rpn_post_nms_top_n_train=200,
                    rpn_pre_nms_top_n_test=200, rpn_post_nms_top_n_test=100,
                    box_detections_per_img=50)
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

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        out = self.model(list(x.unbind(0)))[0]
        return out["boxes"], out["scores"], out["labels"]


def to_device(images, targets, device):
    x = images.to(device, non_blocking=True).float().div_(255)
    t = [dict((k, v.to(device, non_blocking=True)) for k, v in tgt.items()) for tgt in targets]
    return x, t


def flip_batch(x, targets):
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


@torch.no_grad()
def evaluate(model, loader, device, amp_dtype):
    """mAP@0.5 and mAP@[.5:.95] over the val split (torchmetrics MeanAveragePrecision)."""
    from torchmetrics.detection import MeanAveragePrecision

    metric = MeanAveragePrecision(iou_type="bbox", backend="pycocotools")
    model.eval()
    seen = 0
    for images, targets in loader:
        x, t = to_device(images, targets, device)
        with torch.autocast(device.type, dtype=amp_dtype or torch.float32,
                            enabled=amp_dtype is not None):
            preds = model(list(x.unbind(0)))
        preds = [dict((k, v.float() if k != "labels" else v) for k, v in p.items()) for p in preds]
        metric.update([dict((k, v.cpu()) for k, v in p.items()) for p in preds],
                      [dict((k, v.cpu()) for k, v in g.items()) for g in t])
        seen += images.shape[0]
    if seen == 0:
        return 0.0, 0.0
    result = metric.compute()
    return max(0.0, float(result["map_50"])), max(0.0, float(result["map"]))


def save_torchscript(model, model_filepath):
    """Fallback of export_model: TorchScript (scripted) next to the requested path (``.pt``)."""
    path = Path(model_filepath).with_suffix(".pt")
    torch.jit.script(model.cpu().eval()).save(str(path))
    print("warning: ONNX export failed; saved TorchScript to {} "
          "(set custom.json model_filepath to it)".format(path), flush=True)
    return path


def export(model, output_dir, sample):
    wrapped = Exportable(model.float().cpu())
    return export_onnx(wrapped, output_dir, MODEL_FILENAME, sample, save_torchscript)


# ----------------------------------------------------------------------------- main
def main(argv=None):
    args = parse_args(argv)
    run = start(args, channels_last=False)  # device, seeds, AMP; under torchrun the group
    device, amp_dtype = run.device, run.amp_dtype

    splits = load_splits(run, load_split)
    if splits is None:
        return 2
    train_items, val_items, categories = splits
    names = [c["name"] for c in categories]
    run.log("data: {} train / {} val images, {} classes: {}".format(
        len(train_items), len(val_items), len(names), ", ".join(names)))
    run.log("device: {}  amp: {}  workers: {}{}".format(device, amp_dtype, run.workers,
                                                    run.dist.describe()))

    train_set = DetectionDataset(train_items, categories, args.img_size)
    val_set = DetectionDataset(val_items, categories, args.img_size)
    train_loader = make_train_loader(train_set, args.batch_size, run.workers, run.cuda,
                                     args.seed, run.dist, collate_fn=collate)
    val_loader = make_loader(val_set, args.batch_size, False, run.workers, run.cuda, args.seed,
                             collate_fn=collate)

    model = build_model(args.architecture, len(names) + 1, args.img_size, args.weights).to(device)
    net = wrap_model(model, run.dist)  # DistributedDataParallel under torchrun, else model
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=args.learning_rate, weight_decay=args.weight_decay)
    scheduler = one_cycle(optimizer, args, len(train_loader))
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    metrics_log = MetricsLog(args.output_dir, "map50", args.epochs, run.dist)

    for epoch in range(1, args.epochs + 1):
        net.train()
        set_epoch(train_loader, epoch)
        stats = Epoch(run)
        for images, targets in stats.batches(train_loader):
            x, targets = to_device(images, targets, device)
            if not args.no_augment:
                x, targets = flip_batch(x, targets)
            with run.autocast():
                losses = net(list(x.unbind(0)), targets)
                loss = sum(v.float() for v in losses.values())
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(params, 10.0)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            stats.add(x.shape[0], loss.detach())
        _, train_loss, _, speed, wait, seconds = stats.totals()
        if run.dist.is_main:  # rank 0 evaluates the whole val split; the others wait
            lr = scheduler.get_last_lr()[0]
            line = "epoch {}/{}  train_loss {:.4f}  lr {:.2e}  {:.0f} img/s  data_wait {:.1f}%" \
                .format(epoch, args.epochs, train_loss, lr, speed, 100.0 * wait)
            map50 = None  # metrics.jsonl: null in the epochs without evaluation
            if epoch % max(1, args.eval_every) == 0 or epoch == args.epochs:
                map50, _ = evaluate(model, val_loader, device, amp_dtype)
                line += "  val_map50 {:.4f}".format(map50)
            run.log(line)
            metrics_log.epoch(epoch, train_loss, lr, map50, speed, wait, seconds)
        run.dist.barrier()

    if run.dist.is_main:
        map50, map_all = evaluate(model, val_loader, device, amp_dtype)
        train_seconds = time.perf_counter() - run.started
        sample = val_set[0][0].unsqueeze(0).float() / 255
        model_filepath, result = export(model, args.output_dir, sample)
        parity = getattr(result, "max_abs_diff", None)
        write_metrics_json(args.output_dir, dict(
            map50=map50, map=map_all, classes=names, val_images=len(val_items),
            model=str(model_filepath), onnx_max_abs_diff=parity))
        metrics_log.final(map50, train_seconds, getattr(result, "path", model_filepath))
        run.log("Test metric  mAP@[.5:.95]  {:.4f}".format(map_all))
        if parity is not None:
            run.log("ONNX parity  max_abs_diff  {:.3e}".format(parity))
        run.log("Test metric  mAP@0.5  {:.4f}".format(map50))
    run.dist.barrier()
    run.dist.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
