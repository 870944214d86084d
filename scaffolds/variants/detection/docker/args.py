"""Command-line options of train.py: one per key of presets.json and config.jsonschema."""

import argparse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Train the model.")
    parser.add_argument("--output-dir", default="/train")
    parser.add_argument("--images-dir", default="/datasets/images")
    parser.add_argument("--labels-dir", default="/datasets/labels")
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--img-size", type=int, default=300)
    parser.add_argument("--optimizer", default="AdamW")
    parser.add_argument("--lr-scheduler", default="ReduceLROnPlateau")
    parser.add_argument("--learning-rate", type=float, default=0.001)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    return parser


def parse_args(argv=None):
    return build_parser().parse_args(argv)
