"""The checks that need the run's state or the project: OOM kill, score regexp, model file;
and failure.json reading."""

from __future__ import annotations

import json
import re

import pytest

from tcli.errors import InputError
from tcli.explain import diagnose
from tcli.explain.diagnose import ScoreRule, explain_lines

RULE = ScoreRule(re.compile(r"accuracy:  ([0-9.]+)"), "templates/p/c/a/config/custom.json")


def test_score_no_match_names_pattern_origin_nearest_line_and_spacing() -> None:
    lines = ["[train] python train.py", "epoch 1 loss 0.3", "accuracy: 0.93", "done"]
    result = explain_lines(lines, source="log", exit_code=0, score=RULE)
    [finding] = result.findings
    assert finding.id == "score-regexp-no-match"
    assert finding.cause == (
        "score_regexp `accuracy:  ([0-9.]+)` from templates/p/c/a/config/custom.json matched "
        "nothing; the nearest line was `accuracy: 0.93`; the pattern expects 2 spaces where the "
        "line has other spacing")
    assert finding.evidence == ((3, "accuracy: 0.93"),)


def test_score_twice_says_the_platform_reads_the_first() -> None:
    lines = ["accuracy:  0.5", "accuracy:  0.9"]
    [finding] = explain_lines(lines, source="log", exit_code=0, score=RULE).findings
    assert finding.id == "score-regexp-twice"
    assert "reads the FIRST match (0.5)" in finding.cause
    assert [n for n, _ in finding.evidence] == [1, 2]


def test_score_once_is_fine() -> None:
    assert explain_lines(["accuracy:  0.9"], source="log", exit_code=0, score=RULE).findings == []


def test_score_not_blamed_when_the_run_crashed() -> None:
    result = explain_lines(["Traceback", "ValueError: x"], source="log", exit_code=1, score=RULE)
    assert result.findings == [] and not result.recognised


def test_oom_killed_state() -> None:
    result = explain_lines(["epoch 1", "Killed"], source="c", exit_code=137, oom_killed=True)
    assert [f.id for f in result.findings] == ["container-oom-killed"]


def test_model_missing_when_the_run_ended_well() -> None:
    result = explain_lines(["accuracy:  0.9"], source="c", exit_code=0, score=RULE,
                           model_problem="model file /train/model.onnx was not written",
                           model_filepath="/train/model.onnx")
    [finding] = result.findings
    assert finding.id == "model-missing" and "/train/model.onnx" in finding.fix


def test_log_signature_wins_over_model_and_score() -> None:
    lines = ["OSError: [Errno 28] No space left on device"]
    result = explain_lines(lines, source="c", exit_code=1, score=RULE, model_problem="gone")
    assert [f.id for f in result.findings] == ["disk-full"]


def _failure(**over: object) -> bytes:
    doc = {"schema": "tc-failure/1", "stage": "train", "exit_code": 1,
           "last_lines": ["OSError: [Errno 28] No space left on device"]}
    doc.update(over)
    return json.dumps(doc).encode()


def test_failure_json_is_recognised_and_read() -> None:
    assert diagnose.is_failure_json(_failure())
    assert not diagnose.is_failure_json(b"epoch 1\n")
    assert diagnose.read_failure_json(_failure(), "f.json")["stage"] == "train"


@pytest.mark.parametrize(("over", "message"), [
    ({"stage": "nap"}, "f.json: stage 'nap' is not one of mount, setup, train, export"),
    ({"exit_code": "1"}, "f.json: exit_code must be an integer"),
    ({"last_lines": [1]}, "f.json: last_lines must be a list of strings"),
])
def test_bad_failure_json_names_the_field(over: dict[str, object], message: str) -> None:
    with pytest.raises(InputError) as info:
        diagnose.read_failure_json(_failure(**over), "f.json")
    assert info.value.message == message

