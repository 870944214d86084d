"""What a sweep reports: one :class:`TrialRow` per trial, the :class:`SweepResult` (``--json``),
and the progress protocol :class:`SweepEvents` (drawn by :mod:`tcli.ui.sweep_view`)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from tcli.devrun.events import DevRunEvents


@dataclass
class TrialRow:
    """One trial as the table shows it."""

    number: int  # 1-based: Optuna's trial number + 1
    state: str  # complete | pruned | failed | interrupted | running | waiting
    params: dict[str, Any]
    score: float | None = None
    epochs: int = 0  # per-epoch values the pruner saw
    seconds: float | None = None
    baseline: bool = False
    note: str = ""


@dataclass
class SweepResult:
    """The outcome of ``tc sweep`` (also what ``--json`` prints)."""

    name: str
    template: str
    direction: str
    score_name: str
    trials_asked: int
    folder: str
    storage: str
    trials: list[TrialRow] = field(default_factory=list)
    best: TrialRow | None = None
    best_config: dict[str, Any] | None = None
    baseline_score: float | None = None
    report: str | None = None
    applied: str | None = None
    resumed_interrupted: list[int] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for row in self.trials:
            out[row.state] = out.get(row.state, 0) + 1
        return out

    def to_json(self) -> str:
        data = asdict(self)
        data["counts"] = self.counts()
        return json.dumps(data, indent=2, ensure_ascii=False)


class SweepEvents(DevRunEvents, Protocol):
    """A dev-run's progress (the build) plus the trials."""

    def trial_started(self, row: TrialRow) -> None:
        """A trial's container started."""

    def trial_finished(self, row: TrialRow) -> None:
        """A trial ended (complete, pruned, failed, interrupted)."""
