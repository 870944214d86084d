"""The objective is the score the platform reads: custom.json's score_regexp on the log."""

from __future__ import annotations

import re

from tcli.custom_json import CustomJson
from tcli.sweep.runner import score_from_log

CUSTOM = CustomJson("/train/model.onnx", "Acc.", re.compile(r"Test metric +Accuracy +(\d+\.\d+)"))


def test_first_match_of_the_whole_log() -> None:
    log = ["[train] python train.py --c 1.0", "epoch 1 val 0.5", "Test metric  Accuracy  0.8750",
           "Test metric  F1-macro  0.8000", "Test metric  Accuracy  0.1"]
    assert score_from_log(log, CUSTOM) == 0.875  # unrounded: the platform rounds for display


def test_no_score_and_not_a_number() -> None:
    assert score_from_log(["training...", "done"], CUSTOM) is None
    odd = CustomJson("/train/m.onnx", "x", re.compile(r"score (\S+)"))
    assert score_from_log(["score nan"], odd) is None
    assert score_from_log(["score inf"], odd) is None
    assert score_from_log(["score abc"], odd) is None
    assert score_from_log(["score -0.25"], odd) == -0.25


def test_a_regexp_spanning_two_lines() -> None:
    two = CustomJson("/train/m.onnx", "mAP", re.compile(r"mAP\n *value (\d+\.\d+)"))
    assert score_from_log(["mAP", "  value 0.42"], two) == 0.42
