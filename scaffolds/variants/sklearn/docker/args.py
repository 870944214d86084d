"""Command-line options of train.py: one per key of presets.json and config.jsonschema.

config_to_args passes every key of the final train_config.json as ``--<key>`` (train-split and
test-split stay with setup.py); ``true`` becomes a bare flag and ``false`` is left out.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

ARCHITECTURES = ("logistic_regression", "random_forest")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Train a scikit-learn image classifier.",
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
    parser.add_argument("--architecture", choices=ARCHITECTURES, default="logistic_regression",
                        help="scikit-learn estimator (after a StandardScaler).")
    parser.add_argument("--img-size", type=int, default=16,
                        help="Images are resized to img-size x img-size RGB pixels for the pixel features.")
    parser.add_argument("--histogram-bins", type=int, default=8,
                        help="Bins of the colour histogram computed per RGB channel on the full image.")
    parser.add_argument("--c", type=float, default=1.0,
                        help=("Logistic regression only: inverse regularisation strength (smaller "
                              "regularises more)."))
    parser.add_argument("--max-iter", type=int, default=1000,
                        help="Logistic regression only: solver iterations.")
    parser.add_argument("--n-estimators", type=int, default=200,
                        help="Random forest only: number of trees.")
    parser.add_argument("--max-depth", type=int, default=0,
                        help="Random forest only: depth limit, 0 = unlimited.")
    parser.add_argument("--num-workers", type=int, default=1,
                        help="Random forest only: processes used for fitting (-1 = all cores).")
    parser.add_argument("--seed", type=int, default=0,
                        help="Random seed; runs are reproducible.")
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)
