"""A sweep on disk: ``.tc/sweeps/NAME/`` holds ``study.db`` (Optuna's SQLite storage: every
trial, its parameters, state, per-epoch values and score), ``sweep.json`` (what was asked: the
template, the space, the direction, the number of trials) and ``trials/NNNN/`` (each trial's
``/train`` folder, ``train_config.json`` and log).

Resuming (``tc sweep --resume NAME``): a trial left ``RUNNING`` by a crash or a kill is marked
``FAIL`` with the user attribute ``interrupted`` and its parameters are queued again, so no
sampled point is lost; the number of trials asked counts finished trials only (complete, pruned,
failed), never an interrupted one, so none is counted twice.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tcli.contract import SCORE_NAME_KEY
from tcli.errors import InputError
from tcli.safety import atomic, jsonload
from tcli.sweep.space import CHOICE, FLOAT, INT, Param

if TYPE_CHECKING:
    import optuna

NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
STUDY_DB = "study.db"
META = "sweep.json"
INTERRUPTED = "interrupted"
BASELINE = "baseline"
MAX_META_BYTES = 1024 * 1024


@dataclass
class SweepMeta:
    """What a sweep was asked (``sweep.json``)."""

    name: str
    template: str
    direction: str  # maximize | minimize
    trials: int
    space: dict[str, Param]
    score_name: str = "score"
    parallel: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "template": self.template, "direction": self.direction,
                "trials": self.trials, SCORE_NAME_KEY: self.score_name, "parallel": self.parallel,
                "space": [p.to_dict() for p in self.space.values()], **self.extra}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SweepMeta:
        space = {p["name"]: Param.from_dict(p) for p in data.get("space", [])}
        return cls(name=str(data["name"]), template=str(data["template"]),
                   direction=str(data["direction"]), trials=int(data["trials"]), space=space,
                   score_name=str(data.get(SCORE_NAME_KEY, "score")),
                   parallel=int(data.get("parallel", 1)))


def check_name(name: str) -> str:
    if not NAME_RE.fullmatch(name):
        raise InputError(f"--name {name!r} is not a sweep name",
                         "lower-case letters, digits, '-' and '_', at most 63 characters")
    return name


def sweeps_root(tc_dir: Path) -> Path:
    return tc_dir / "sweeps"


def sweep_dir(tc_dir: Path, name: str) -> Path:
    return sweeps_root(tc_dir) / check_name(name)


def storage_url(folder: Path) -> str:
    return f"sqlite:///{folder / STUDY_DB}"


def distributions(space: dict[str, Param]) -> dict[str, Any]:
    """Optuna's distributions of the searched (not fixed) parameters."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    out: dict[str, Any] = {}
    for name, p in space.items():
        if p.fixed:
            continue
        if p.kind == CHOICE:
            out[name] = CategoricalDistribution(list(p.choices))
        elif p.kind == INT:
            out[name] = IntDistribution(int(p.low or 0), int(p.high or 0), log=p.log)
        elif p.kind == FLOAT:
            out[name] = FloatDistribution(float(p.low or 0), float(p.high or 0), log=p.log)
    return out


def _quiet() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)


def _sampler(name: str, trials: int, existing: int) -> Any:
    """TPE; its seed differs per (sweep, trials already stored), so a resumed sweep does not
    replay the random start of the first run."""
    import zlib

    import optuna

    seed = zlib.crc32(f"{name}:{existing}".encode())
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(10, max(2, trials // 3)))


def _pruner() -> Any:
    import optuna

    # the median rule, per epoch, once two trials have finished; from the first epoch on
    return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1, interval_steps=1)


def create(folder: Path, meta: SweepMeta, baseline: dict[str, Any] | None) -> optuna.Study:
    """A new sweep in ``folder`` (refused when one is there); the baseline (the current
    train_config.json's values) is queued as the first trial."""
    import optuna

    _quiet()
    if (folder / STUDY_DB).exists() or (folder / META).exists():
        raise InputError(f"{folder}: a sweep named {meta.name!r} exists",
                         f"continue it with tc sweep --resume {meta.name}, or pass another --name")
    folder.mkdir(parents=True, exist_ok=True)
    atomic.write_text(folder / META, json.dumps(meta.to_dict(), indent=2) + "\n")
    study = optuna.create_study(storage=storage_url(folder), study_name=meta.name,
                                direction="minimize" if meta.direction == "minimize"
                                else "maximize",
                                sampler=_sampler(meta.name, meta.trials, 0), pruner=_pruner())
    if baseline is not None:
        study.enqueue_trial(baseline, user_attrs={BASELINE: True})
    return study


def load_meta(folder: Path, name: str) -> SweepMeta:
    path = folder / META
    if not path.is_file() or not (folder / STUDY_DB).is_file():
        raise InputError(f"no sweep named {name!r} ({folder})",
                         "list them with: ls .tc/sweeps; start one with tc sweep --trials N")
    data = jsonload.load(path, max_bytes=MAX_META_BYTES)
    try:
        return SweepMeta.from_dict(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{path}: not a sweep description ({exc})") from None


def load(folder: Path, meta: SweepMeta) -> optuna.Study:
    """The stored study, with trials a crash left running marked interrupted and queued again."""
    import optuna

    _quiet()
    existing = len(optuna.load_study(study_name=meta.name, storage=storage_url(folder))
                   .get_trials(deepcopy=False))
    study = optuna.load_study(study_name=meta.name, storage=storage_url(folder),
                              sampler=_sampler(meta.name, meta.trials, existing),
                              pruner=_pruner())
    recover(study)
    return study


def recover(study: optuna.Study) -> list[int]:
    """Mark the trials left RUNNING as interrupted failures and queue their parameters again;
    returns their numbers."""
    from optuna.trial import TrialState

    numbers = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        storage = study._storage
        storage.set_trial_user_attr(t._trial_id, INTERRUPTED, True)
        storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
        attrs = {BASELINE: True} if t.user_attrs.get(BASELINE) else {}
        study.enqueue_trial(t.params, user_attrs=attrs)
        numbers.append(t.number)
    return numbers


def counted(study: optuna.Study) -> int:
    """Finished trials (complete, pruned, failed), interrupted ones left out."""
    from optuna.trial import TrialState

    return sum(1 for t in study.get_trials(deepcopy=False)
               if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
               or (t.state == TrialState.FAIL and not t.user_attrs.get(INTERRUPTED)))


def state_name(trial: Any) -> str:
    """complete | pruned | failed | interrupted | running | waiting."""
    from optuna.trial import TrialState

    if trial.state == TrialState.FAIL:
        return INTERRUPTED if trial.user_attrs.get(INTERRUPTED) else "failed"
    return {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned",
            TrialState.RUNNING: "running", TrialState.WAITING: "waiting"}.get(trial.state, "?")
