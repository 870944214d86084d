"""Command-line options of train.py: one per key of presets.json and config.jsonschema.

config_to_args passes every key of the final train_config.json as ``--<key>`` (train-split and
test-split stay with setup.py); ``true`` becomes a bare flag and ``false`` is left out.
"""

import argparse

ARCHITECTURES = ("logistic_regression", "random_forest")


def build_parser():
    parser = argparse.ArgumentParser(description="Train a scikit-learn image classifier.")
    # presets.json
    parser.add_argument("--output-dir", default="/train")
    parser.add_argument("--images-dir", default="/datasets/images")
    parser.add_argument("--labels-dir", default="/datasets/labels")
    # config.jsonschema
    parser.add_argument("--architecture", choices=ARCHITECTURES, default="logistic_regression")
    parser.add_argument("--img-size", type=int, default=16)
    parser.add_argument("--histogram-bins", type=int, default=8)
    parser.add_argument("--c", type=float, default=1.0)
    parser.add_argument("--max-iter", type=int, default=1000)
    parser.add_argument("--n-estimators", type=int, default=200)
    parser.add_argument("--max-depth", type=int, default=0)
    parser.add_argument("--num-workers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    return parser


def parse_args(argv=None):
    return build_parser().parse_args(argv)
