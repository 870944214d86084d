"""``tc sweep``: build the template's image once (as ``tc dev-run``), then run trials of it,
each with its own ``train_config.json`` (:mod:`tcli.job.trial`), scored by custom.json's
``score_regexp`` on the container's log -- the score the platform would read -- and pruned from
the per-epoch val metric of its ``metrics.jsonl`` (:mod:`tcli.sweep.metrics`, Optuna's median
rule). Trials run one at a time, or ``parallel`` at once with the GPUs split between them
(:func:`tcli.job.gpus.split_for_trials`).

Ctrl-C stops (removes) the running trials' containers, marks them interrupted in the SQLite
storage and raises Aborted; ``--resume NAME`` goes on (:mod:`tcli.sweep.store`). A trial's
container is always removed after it ends; its log and /train stay in its folder.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
import warnings
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tcli.contract import TRAIN_CONFIG
from tcli.custom_json import CustomJson
from tcli.devrun.logs import LogWatcher
from tcli.errors import Aborted, DockerError, TcError
from tcli.job import local
from tcli.job.gpus import GpuPlan
from tcli.job.spec import JobSpec
from tcli.job.trial import LABEL_SWEEP, LABEL_TRIAL, config_text, trial_spec
from tcli.safety import atomic
from tcli.sweep import store
from tcli.sweep.metrics import MetricsFollower
from tcli.sweep.result import SweepEvents, TrialRow
from tcli.sweep.space import trial_config

if TYPE_CHECKING:
    import optuna

#: A trial's saved log stops growing here (the score is read from the stream, not the file).
MAX_TRIAL_LOG = 10 * 1024 * 1024


def score_from_log(lines: list[str], custom: CustomJson) -> float | None:
    """The objective: group 1 of score_regexp's first match on the whole log (what the platform
    reads), as a finite number; None when there is none."""
    watcher = LogWatcher(custom.score_regexp)
    for line in lines:
        watcher.feed(line, 0.0)
    raw = watcher.final_score()
    try:
        value = float(raw) if raw is not None else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None


@dataclass
class Trials:
    """What every trial of one ``tc sweep`` run shares."""

    client: Any
    study: optuna.Study
    meta: store.SweepMeta
    custom: CustomJson
    spec: JobSpec  # the dev-run job every trial is translated from
    config: dict[str, Any]  # the project's train_config.json
    folder: Path  # .tc/sweeps/NAME
    events: SweepEvents
    stop: threading.Event = field(default_factory=threading.Event)
    running: dict[int, Any] = field(default_factory=dict)  # trial number -> container
    lock: threading.Lock = field(default_factory=threading.Lock)
    error: TcError | None = None  # what stopped the sweep (not a trial's own failure)


def _trial_dir(folder: Path, number: int) -> Path:
    return folder / "trials" / f"{number:04d}"


#: How often a running trial's metrics.jsonl is looked at (seconds).
POLL_S = 1.0


def _follow(ctx: Trials, trial: optuna.trial.Trial, container: Any, train: Path,
            log_path: Path) -> tuple[list[str], int | None, int]:
    """Stream the log to ``log_path`` while a watcher thread reports each new epoch of
    metrics.jsonl to the pruner (every :data:`POLL_S`, so an epoch is judged when it is
    written, not when the next log line comes) and stops the container when it says so:
    (log lines, the epoch it was pruned after or None, epochs seen)."""
    from tcli import engine

    follower = MetricsFollower(train / "metrics.jsonl")
    ended = threading.Event()
    pruned: list[int] = []

    def watch() -> None:
        while not ended.is_set():
            if report_epochs(trial, follower):
                pruned.append(max(follower.seen))
                engine.stop(container)
                return
            if ctx.stop.is_set():
                engine.stop(container)
                return
            ended.wait(POLL_S)

    watcher = threading.Thread(target=watch, name=f"prune-{trial.number}", daemon=True)
    watcher.start()
    lines: list[str] = []
    written = 0
    try:
        with open(log_path, "w", encoding="utf-8") as log:
            for line in engine.stream_lines(container):
                lines.append(line)
                if len(lines) > 20000:  # bounded: the score is on a late line; keep the tail
                    del lines[:10000]
                if written < MAX_TRIAL_LOG:
                    log.write(line + "\n")
                    written += len(line) + 1
    finally:
        ended.set()
        watcher.join()
    if not pruned:
        report_epochs(trial, follower)  # the epochs written at the very end
    return lines, (pruned[0] if pruned else None), len(follower.seen)


def report_epochs(trial: optuna.trial.Trial, follower: MetricsFollower) -> bool:
    """Report the epochs the follower found since the last call to the pruner; True when it
    says to prune the trial (Optuna's median rule, :func:`tcli.sweep.store._pruner`). The last
    epoch is never pruned: the run is about to print its score, stopping it saves nothing."""
    prune = False
    for epoch, metric in follower.poll():
        trial.report(metric, epoch)
        last = follower.epochs is not None and epoch >= follower.epochs
        prune = prune or (not last and trial.should_prune())
    return prune


def run_trial(ctx: Trials, trial: optuna.trial.Trial, gpu: GpuPlan) -> TrialRow:
    """One trial: its train_config.json into the image, run, score, pruned or not; told to
    the study. Never raises for a failed trial (it is recorded as failed)."""
    from tcli import engine

    number = trial.number + 1  # tc's trial N is Optuna's trial N-1
    baseline = bool(trial.user_attrs.get(store.BASELINE))
    row = TrialRow(number=number, state="running", params=dict(trial.params),
                   baseline=baseline)
    out = _trial_dir(ctx.folder, number)
    train = out / "train"
    train.mkdir(parents=True, exist_ok=True)
    config = trial_config(ctx.config, trial.params, ctx.meta.space)
    atomic.write_text(out / TRAIN_CONFIG, config_text(config))
    name = f"{ctx.spec.name}-sweep-{ctx.meta.name}-{number}"[:120]
    spec = trial_spec(ctx.spec, name=name, config=config, output_source=train.resolve(),
                      gpus=gpu.node_gpus(),
                      labels={LABEL_SWEEP: ctx.meta.name, LABEL_TRIAL: str(number)})
    begun = time.monotonic()
    container = None
    try:
        old = engine.find_container(ctx.client, name)
        if old is not None and (old.labels or {}).get(LABEL_SWEEP) == ctx.meta.name:
            engine.remove(old)  # ours: left by a crash
        container, _ = engine.create_and_start(ctx.client, local.container(spec),
                                               warn=ctx.events.warn)
        with ctx.lock:
            ctx.running[number] = container
        ctx.events.trial_started(row)
        lines, pruned_at, epochs = _follow(ctx, trial, container, train, out / "log.txt")
        state = engine.wait(container)
    except Exception as exc:
        # Docker, not the trial, failed (the image gone, the daemon down): the trial is
        # interrupted (run again on --resume) and the sweep stops with the error
        row.state, row.note = store.INTERRUPTED, str(getattr(exc, "message", exc))[:200]
        with ctx.lock:
            if ctx.error is None:
                ctx.error = exc if isinstance(exc, TcError) else DockerError(row.note)
        ctx.stop.set()
        _tell(ctx, trial, row)
        return row
    finally:
        if container is not None:
            with ctx.lock:
                ctx.running.pop(number, None)
            with contextlib.suppress(Exception):
                engine.remove(container)
    row.seconds = round(time.monotonic() - begun, 1)
    row.epochs = epochs
    score = score_from_log(lines, ctx.custom)
    row.score = score
    if state.exit_code == 0 and score is not None:
        row.state = "complete"
    elif ctx.stop.is_set():
        row.state, row.score = store.INTERRUPTED, None
    elif pruned_at is not None:
        row.state, row.score = "pruned", None
        row.note = f"pruned after epoch {pruned_at}"
    else:
        row.state = "failed"
        row.note = ("OOM-killed" if state.oom_killed else
                    f"exit {state.exit_code}" if state.exit_code else "no score in the log")
    _tell(ctx, trial, row)
    return row


def _tell(ctx: Trials, trial: optuna.trial.Trial, row: TrialRow) -> None:
    from optuna.trial import TrialState

    if row.note:
        trial.set_user_attr("note", row.note)
    if row.seconds is not None:
        trial.set_user_attr("seconds", row.seconds)
    if row.state == "complete":
        ctx.study.tell(trial, row.score)
    elif row.state == "pruned":
        ctx.study.tell(trial, state=TrialState.PRUNED)
    elif row.state == store.INTERRUPTED:
        trial.set_user_attr(store.INTERRUPTED, True)
        ctx.study.tell(trial, state=TrialState.FAIL)
        attrs = {store.BASELINE: True} if row.baseline else {}
        ctx.study.enqueue_trial(dict(trial.params), user_attrs=attrs)  # not lost: run it again
    else:
        ctx.study.tell(trial, state=TrialState.FAIL)
    ctx.events.trial_finished(row)


def run_trials(ctx: Trials, gpus: list[GpuPlan], deadline: float | None) -> list[TrialRow]:
    """Run trials until the study has ``meta.trials`` finished ones (or the deadline passed);
    ``len(gpus)`` at once. Ctrl-C: stop, mark interrupted, raise Aborted."""
    from optuna.trial import TrialState

    dists = store.distributions(ctx.meta.space)
    rows: list[TrialRow] = []
    free = list(range(len(gpus)))
    busy: dict[Future[TrialRow], int] = {}

    def left() -> int:
        running = len(ctx.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))
        return ctx.meta.trials - store.counted(ctx.study) - running

    pool = ThreadPoolExecutor(max_workers=len(gpus), thread_name_prefix="trial")
    try:
        while True:
            while free and left() > 0 and not ctx.stop.is_set() \
                    and (deadline is None or time.monotonic() < deadline):
                slot = free.pop()
                with warnings.catch_warnings():  # the baseline's value outside a narrowed range
                    warnings.simplefilter("ignore")
                    trial = ctx.study.ask(dists)
                busy[pool.submit(run_trial, ctx, trial, gpus[slot])] = slot
            if not busy:
                break
            done, _ = wait(list(busy), return_when=FIRST_COMPLETED)
            for fut in done:
                free.append(busy.pop(fut))
                rows.append(fut.result())
    except KeyboardInterrupt:
        ctx.stop.set()
        ctx.events.warn("interrupted: stopping the running trial(s) "
                     f"(resume with: tc sweep --resume {ctx.meta.name})")
        from tcli import engine

        with ctx.lock:
            containers = list(ctx.running.values())
        for container in containers:
            with contextlib.suppress(Exception):
                engine.stop(container)
        for fut in list(busy):
            with contextlib.suppress(Exception):
                rows.append(fut.result())
        pool.shutdown(wait=True)
        store.recover(ctx.study)  # a trial asked for but never started: interrupted too
        raise Aborted(f"sweep {ctx.meta.name} interrupted after {store.counted(ctx.study)} "
                      f"finished trial(s)", f"resume with: tc sweep --resume {ctx.meta.name}"
                      ) from None
    pool.shutdown(wait=True)
    if ctx.error is not None:
        ctx.error.hint = (ctx.error.hint + "; " if ctx.error.hint else "") + \
            f"then resume with: tc sweep --resume {ctx.meta.name}"
        raise ctx.error
    return rows

