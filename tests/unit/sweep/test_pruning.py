"""Pruning from metrics.jsonl: the per-epoch val metric, as a container writes it, goes to
Optuna's median rule; a trial below the earlier trials' median is pruned, a good one is not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tcli.sweep import store
from tcli.sweep.metrics import MetricsFollower
from tcli.sweep.runner import report_epochs
from tcli.sweep.space import FLOAT, Param

SPACE = {"lr": Param("lr", FLOAT, 0.001, 1.0, log=True)}


def write_epoch(path: Path, epoch: int, metric: float) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"kind": "epoch", "epoch": epoch, "epochs": 3, "metric": metric,
                             "loss": 1.0}) + "\n")


def run(study: Any, tmp: Path, name: str, metrics: list[float]) -> tuple[bool, int]:
    """One trial fed epoch by epoch through metrics.jsonl; (pruned, epochs written)."""
    trial = study.ask(store.distributions(SPACE))
    path = tmp / f"{name}.jsonl"
    follower = MetricsFollower(path)
    for epoch, metric in enumerate(metrics, start=1):
        write_epoch(path, epoch, metric)
        if report_epochs(trial, follower):
            study.tell(trial, state=store_state("PRUNED"))
            return True, epoch
    study.tell(trial, metrics[-1])
    return False, len(metrics)


def store_state(name: str) -> Any:
    from optuna.trial import TrialState

    return getattr(TrialState, name)


def test_median_rule_on_the_metrics_file(tmp_path: Path) -> None:
    meta = store.SweepMeta("p", "P/C/A", "maximize", 5, SPACE)
    study = store.create(tmp_path / "p", meta, None)
    assert run(study, tmp_path, "a", [0.5, 0.6, 0.7]) == (False, 3)
    assert run(study, tmp_path, "b", [0.6, 0.7, 0.8]) == (False, 3)
    # below the median (0.55) at epoch 1: stopped there
    assert run(study, tmp_path, "c", [0.2, 0.9, 0.9]) == (True, 1)
    # above it every epoch: runs to the end
    assert run(study, tmp_path, "d", [0.7, 0.8, 0.9]) == (False, 3)
    # the last epoch is never pruned (a one-epoch run like the scikit-learn template's)
    assert run(study, tmp_path, "e", [0.9, 0.9, 0.1]) == (False, 3)
    trials = study.get_trials(deepcopy=False)
    assert [store.state_name(t) for t in trials] == ["complete", "complete", "pruned", "complete",
                                                     "complete"]
    assert trials[2].intermediate_values == {1: 0.2}
    assert store.counted(study) == 5  # a pruned trial is a finished trial


def test_garbage_in_the_file_does_not_prune(tmp_path: Path) -> None:
    meta = store.SweepMeta("q", "P/C/A", "maximize", 5, SPACE)
    study = store.create(tmp_path / "q", meta, None)
    run(study, tmp_path, "a", [0.5, 0.6])
    run(study, tmp_path, "b", [0.6, 0.7])
    trial = study.ask(store.distributions(SPACE))
    path = tmp_path / "c.jsonl"
    path.write_text('{"kind": "epoch", "epoch": 1, "metric": NaN}\nnot json\n'
                    '{"kind": "epoch", "epoch": 1, "metric": "0.0"}\n')
    follower = MetricsFollower(path)
    assert report_epochs(trial, follower) is False
    assert trial.storage.get_trial(trial._trial_id).intermediate_values == {}
