"""Command-line options of train.py: one per key of presets.json and config.jsonschema.

config_to_args passes every key of the final train_config.json as ``--<key>`` (train-split and
test-split stay with setup.py); ``true`` becomes a bare flag and ``false`` is left out, so
booleans are ``store_true`` options that default to false.
"""

import argparse

ARCHITECTURES = (
    "fasterrcnn_resnet18_fpn",
    "fasterrcnn_mobilenet_v3_large_320_fpn",
    "fasterrcnn_mobilenet_v3_large_fpn",
)


def build_parser():
    parser = argparse.ArgumentParser(description="Train a torchvision Faster R-CNN detector.")
    # presets.json
    parser.add_argument("--output-dir", default="/train")
    parser.add_argument("--images-dir", default="/datasets/images")
    parser.add_argument("--labels-dir", default="/datasets/labels")
    # config.jsonschema
    parser.add_argument("--architecture", choices=ARCHITECTURES, default="fasterrcnn_resnet18_fpn")
    parser.add_argument("--weights", default="")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--img-size", type=int, default=96)
    parser.add_argument("--learning-rate", type=float, default=0.001)
    parser.add_argument("--weight-decay", type=float, default=0.0001)
    parser.add_argument("--eval-every", type=int, default=5)
    parser.add_argument("--no-augment", action="store_true")
    parser.add_argument("--no-amp", action="store_true")
    parser.add_argument("--num-workers", type=int, default=-1)
    parser.add_argument("--seed", type=int, default=0)
    return parser


def parse_args(argv=None):
    return build_parser().parse_args(argv)
