"""Follow a started train container: stream its log, wait, read the score, check the model.

The outcome (succeeded, failed, OOM-killed, no score, no model) fills the :class:`Summary`;
a failure is raised as RunFailed after the summary event.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tcli.contract import TRAIN_MOUNT
from tcli.custom_json import CustomJson
from tcli.devrun.events import DevRunEvents
from tcli.devrun.logs import LogWatcher, round_score
from tcli.devrun.minio import train_root
from tcli.devrun.summary import Summary
from tcli.errors import RunFailed
from tcli.project import Project

if TYPE_CHECKING:
    from tcli.engine import ExitState


@dataclass
class Running:
    """A container that was just started (or restarted) and what to check after it."""

    container: Any
    project: Project
    custom: CustomJson
    summary: Summary
    started: float  # time.monotonic() at the start
    since_wall: float  # time.time() at the start: a model older than this is stale
    since: float | None = None  # only log lines after this (a rerun)


def model_check(
    project: Project, custom: CustomJson, container: Any, since_wall: float
) -> tuple[str | None, int | None, str | None]:
    """(host path or None, size, problem) of the model file after a run."""
    from tcli import engine

    path = custom.model_filepath
    if path == TRAIN_MOUNT or path.startswith(f"{TRAIN_MOUNT}/"):
        host = train_root(project) / path[len(f"{TRAIN_MOUNT}/"):]
        if not host.is_file():
            return str(host), None, f"model file {path} was not written (no {host})"
        stat = host.stat()
        if stat.st_mtime < since_wall - 2:
            return str(host), stat.st_size, f"model file {path} was not rewritten by this run"
        return str(host), stat.st_size, None
    size = engine.file_size(container, path)
    if size is None:
        return None, None, f"model file {path} was not written"
    return None, size, None


def follow(run: Running, events: DevRunEvents) -> Summary:
    """Stream logs, wait, check the score and the model, fill and return the summary."""
    from tcli import engine

    container, custom = run.container, run.custom
    watcher = LogWatcher(custom.score_regexp)
    for line in engine.stream_lines(container, since=run.since):
        events.log(line)
        feed_score(watcher, line, custom, events)
    return conclude(run, watcher, engine.wait(container), time.monotonic(), events)


def feed_score(watcher: LogWatcher, line: str, custom: CustomJson, events: DevRunEvents) -> None:
    """Give ``line`` to the watcher; announce the score the first time it appears."""
    found = watcher.feed(line, time.monotonic())
    if found is not None:
        rounded = round_score(found)
        shown = f"{rounded}" if rounded is not None else found
        events.line(f"score {custom.score_name} = {shown} (from the log: {found})", style="ok")


def conclude(run: Running, watcher: LogWatcher, state: ExitState, ended: float,
             events: DevRunEvents, cause: RunFailed | None = None,
             explain_from: tuple[list[str], ExitState] | None = None) -> Summary:
    """Fill the summary from how the container ended, report it, raise RunFailed on failure.

    ``cause``: a failure found elsewhere (another node of a ``--nodes`` run) that wins over
    what this container's own end says; ``explain_from``: that node's last lines and end,
    which the explanation then reads instead of this container's.
    """
    container, project, custom, summary = run.container, run.project, run.custom, run.summary
    started, since_wall = run.started, run.since_wall
    summary.exit_code = state.exit_code
    if watcher.train_started is not None:
        summary.durations["setup"] = round(watcher.train_started - started, 2)
        summary.durations["train"] = round(ended - watcher.train_started, 2)
    else:
        summary.durations["setup"] = None
        summary.durations["train"] = round(ended - started, 2)
    summary.durations["run"] = round(ended - started, 2)
    raw = watcher.final_score()
    summary.score_raw = raw
    summary.score = round_score(raw) if raw is not None else None
    host, size, problem = model_check(project, custom, container, since_wall)
    summary.model_file, summary.model_bytes = host, size

    failure: RunFailed | None = None
    if cause is not None:
        summary.status = "failed"
        failure = cause
    elif state.oom_killed:
        summary.status = "oom-killed"
        failure = RunFailed(
            f"container {summary.container} was OOM-killed (out of memory, exit {state.exit_code})",
            "lower batch_size or the image size in train_config.json, or give the container "
            "more memory (--memory, Docker Desktop's limit)",
        )
    elif state.exit_code != 0:
        summary.status = "failed"
        failure = RunFailed(
            f"container {summary.container} exited with code {state.exit_code}",
            f"the last log lines are above; full log: docker logs {summary.container}",
        )
    elif raw is None:
        summary.status = "failed"
        failure = RunFailed(
            f"no log line matched custom.json's score_regexp {custom.score_regexp.pattern!r}",
            "train.py must print its final score in that form (the platform reads it from the log)",
        )
    elif problem is not None:
        summary.status = "failed"
        failure = RunFailed(problem, "train.py must save the model to custom.json's model_filepath")
    else:
        summary.status = "succeeded"
    if failure is not None and cause is None and state.exit_code != 0:
        events.line(f"last log lines of {summary.container}:", style="error")
        for line in watcher.last_lines():
            events.line(f"  {line}")
    events.summary(summary, project)
    from tcli.report.hook import report_after_run  # never raises: a report problem is one warning

    report_after_run(project.root, summary, events)
    if failure is not None:
        from tcli.explain.hook import explain_after_run  # never raises

        lines, end = explain_from if explain_from is not None else (watcher.lines, state)
        explain_after_run(lines, end, custom, summary.template, problem, events)
        raise failure
    return summary
