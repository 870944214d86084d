"""Command-line options of train.py: one per key of presets.json and config.jsonschema.

config_to_args passes every key of the final train_config.json as ``--<key>`` (train-split and
test-split stay with setup.py); ``true`` becomes a bare flag and ``false`` is left out, so
booleans are ``store_true`` options that default to false.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

ARCHITECTURES = ("lraspp_mobilenet_v3_large", "deeplabv3_mobilenet_v3_large")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Train a torchvision segmentation network.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    # presets.json
    parser.add_argument("--output-dir", default="/train",
                        help="Folder for model.onnx, metrics.json and metrics.jsonl (presets.json).")
    parser.add_argument("--images-dir", default="/datasets/images",
                        help="Images written by setup.py: <images-dir>/{train,val}/<file> (presets.json).")
    parser.add_argument("--labels-dir", default="/datasets/labels",
                        help=("COCO labels written by setup.py: <labels-dir>/{train,val}/labels.json "
                              "(presets.json)."))
    # config.jsonschema
    parser.add_argument("--architecture", choices=ARCHITECTURES, default="lraspp_mobilenet_v3_large",
                        help="torchvision segmentation network (random weights unless --weights).")
    parser.add_argument("--weights", default="",
                        help=("A weights.lock name (empty: its only entry) or a local state_dict to start "
                              "from; tensors that do not fit (the "
                              "classifier) start random. Never downloaded at run time."))
    parser.add_argument("--epochs", type=int, default=40,
                        help="Passes over the training split.")
    parser.add_argument("--batch-size", type=int, default=16,
                        help=("Images per training step, over all processes (each takes its share under "
                              "torchrun)."))
    parser.add_argument("--img-size", type=int, default=64,
                        help=("Images and masks are resized to img-size x img-size pixels (also the ONNX "
                              "input size)."))
    parser.add_argument("--learning-rate", type=float, default=0.003,
                        help="Peak learning rate of AdamW under a one-cycle schedule.")
    parser.add_argument("--weight-decay", type=float, default=0.0001,
                        help="AdamW weight decay.")
    parser.add_argument("--eval-every", type=int, default=5,
                        help="Evaluate on the val split every N epochs (and always after the last one).")
    parser.add_argument("--no-augment", action="store_true",
                        help="Turn off random horizontal flips during training.")
    parser.add_argument("--no-amp", action="store_true",
                        help=("Train in float32 on the GPU instead of bf16/fp16 autocast (never used on "
                              "CPU)."))
    parser.add_argument("--num-workers", type=int, default=-1,
                        help=("DataLoader processes decoding images; -1 = automatic (up to 8 with a GPU, 0 "
                              "on CPU)."))
    parser.add_argument("--loader-benchmark", type=int, default=0, metavar="N",
                        help=("Measure the data path only: iterate the train loader N epochs without the "
                              "model, print 'loader epoch K: X img/s' per epoch, and exit (no training, "
                              "no model; docs/performance.md). 0 = train."))
    parser.add_argument("--seed", type=int, default=0,
                        help="Random seed (weights, shuffling, augmentation); CPU runs are reproducible.")
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)
