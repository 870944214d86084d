"""custom.json's score_regexp of every template captures its score_line.txt (and nothing in
the per-epoch lines), and model_filepath is the ONNX file train.py writes."""

from __future__ import annotations

import json
import re

import pytest

from tcli.contract import SETUP_KEYS, TEMPLATE_NAMES
from tests.unit.templates.conftest import VARIANTS

TEMPLATES = sorted(p.name for p in VARIANTS.iterdir() if (p / "config").is_dir())
EPOCH_LINES = [
    "epoch 3/10  train_loss 0.1234  train_acc 0.9000  val_acc 0.9500  val_f1 0.9400  "
    "lr 1.00e-03  400 img/s  data_wait 2.0%",
    "epoch 5/20  train_loss 0.0900  lr 6.76e-04  9 img/s  data_wait 0.4%  val_map50 0.9625",
    "epoch 5/20  train_loss 0.0900  lr 6.76e-04  9 img/s  data_wait 0.4%  val_miou 0.7716",
    "Test metric  mAP@[.5:.95]  0.8334",
    "Test metric  F1-macro  0.9561",
    "ONNX parity  max_abs_diff  7.629e-06",
]


def test_every_registered_template_present() -> None:
    assert sorted(TEMPLATE_NAMES) == TEMPLATES


@pytest.mark.parametrize("template", TEMPLATES)
def test_score_regexp_matches_score_line(template: str) -> None:
    custom = json.loads((VARIANTS / template / "config" / "custom.json").read_text())
    pattern = re.compile(custom["score_regexp"])
    assert pattern.groups == 1
    line = (VARIANTS / template / "config" / "score_line.txt").read_text()
    assert line.endswith("\n") and line.count("\n") == 1
    match = pattern.search(line)
    assert match, f"{template}: {custom['score_regexp']!r} does not match {line!r}"
    assert 0.0 <= float(match.group(1)) <= 1.0
    for other in EPOCH_LINES:
        assert not pattern.search(other + "\n"), f"{template}: regexp also matches {other!r}"


@pytest.mark.parametrize("template", TEMPLATES)
def test_model_filepath_is_the_onnx_train_writes(template: str) -> None:
    custom = json.loads((VARIANTS / template / "config" / "custom.json").read_text())
    presets = json.loads((VARIANTS / template / "config" / "presets.json").read_text())
    assert presets == {"output-dir": "/train", "images-dir": "/datasets/images",
                       "labels-dir": "/datasets/labels"}
    assert custom["model_filepath"] == "/train/model.onnx"
    train_py = (VARIANTS / template / "docker" / "train.py").read_text()
    assert 'MODEL_FILENAME = "model.onnx"' in train_py


@pytest.mark.parametrize("template", TEMPLATES)
def test_schema_args_and_train_config_agree(template: str) -> None:
    """Every schema property has title/description/default; train_config.json holds exactly
    the schema's keys; args.py defaults equal the schema defaults; booleans are store_true
    and default to false."""
    import importlib.util
    import sys

    schema = json.loads((VARIANTS / template / "config" / "config.jsonschema").read_text())
    train_config = json.loads((VARIANTS / template / "config" / "train_config.json").read_text())
    props = schema["properties"]
    assert list(train_config) == list(props)
    for key, prop in props.items():
        assert {"title", "description", "default", "type"} <= set(prop), key
        if prop["type"] in ("integer", "number"):
            assert "minimum" in prop or "exclusiveMinimum" in prop, key
    spec = importlib.util.spec_from_file_location(
        f"tc_args_{template}", VARIANTS / template / "docker" / "args.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules.pop(spec.name, None)
    parser = module.build_parser()
    actions = {a.option_strings[0][2:]: a for a in parser._actions if a.option_strings
               and a.option_strings[0].startswith("--")}
    # the folders, and --loader-benchmark (a diagnostic of the data path, not a hyperparameter)
    expected = (set(props) - set(SETUP_KEYS)) | {"output-dir", "images-dir", "labels-dir"}
    if template != "sklearn":
        expected.add("loader-benchmark")
    assert set(actions) == expected
    for key, prop in props.items():
        if key in SETUP_KEYS:  # read by setup.py, never passed to train.py
            continue
        action = actions[key]
        if prop["type"] == "boolean":
            assert prop["default"] is False and action.const is True and action.default is False
        else:
            assert action.default == prop["default"], key
        if "enum" in prop:
            assert list(action.choices) == prop["enum"], key
