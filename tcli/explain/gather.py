"""Gather what ``tc explain`` reads: a log file, stdin, a failure.json, or the last dev-run's
container; plus the project's score regexp when run inside a project."""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Any

from tcli.contract import CUSTOM_JSON
from tcli.errors import InputError, TcError
from tcli.explain.diagnose import (
    Explanation,
    ScoreRule,
    explain_lines,
    is_failure_json,
    read_failure_json,
)
from tcli.safety import limits

#: Largest log read (the tail is what matters; a bigger file is refused with a hint).
MAX_LOG_BYTES = limits.DEFAULT_MAX_BYTES
#: Lines of a dev-run container's log read by --last.
LAST_TAIL = 5000


def score_rule(project_dir: Path, template: str | None) -> ScoreRule | None:
    """custom.json's score regexp of the project at ``project_dir`` (None outside a project,
    or when the template is ambiguous or its custom.json unusable: explain still works)."""
    from tcli.custom_json import read_custom
    from tcli.project import Project

    try:
        project = Project.load(project_dir)
        ref = project.select(template)
        custom = read_custom(ref)
    except TcError:
        if template is not None:
            raise
        return None
    origin = (ref.config_dir / CUSTOM_JSON).relative_to(project.root).as_posix()
    return ScoreRule(custom.score_regexp, origin)


def from_bytes(data: bytes, name: str, score: ScoreRule | None) -> Explanation:
    """Explain a log (or a failure.json) given as bytes."""
    if is_failure_json(data):
        doc = read_failure_json(data, name)
        lines = [str(x) for x in doc.get("last_lines", [])]
        return explain_lines(lines, source=name, exit_code=doc.get("exit_code"),
                             stage=doc.get("stage"), score=score)
    text = data.decode("utf-8", "replace")
    return explain_lines(text.splitlines(), source=name, score=score)


def from_file(path: Path, score: ScoreRule | None) -> Explanation:
    return from_bytes(limits.read_bytes(path, max_bytes=MAX_LOG_BYTES), str(path), score)


def from_stdin(stream: Any, score: ScoreRule | None) -> Explanation:
    data = stream.read(MAX_LOG_BYTES + 1)
    if len(data) > MAX_LOG_BYTES:
        raise limits.TooLarge(f"stdin: more than {MAX_LOG_BYTES} bytes",
                              "give the last part of the log (e.g. tail -n 5000)")
    return from_bytes(data, "stdin", score)


def from_last_run(project_dir: Path, template: str | None,
                  score: ScoreRule | None) -> Explanation:
    """The newest dev-run container of the project: its log tail and how it ended."""
    from tcli import engine
    from tcli.devrun.naming import LABEL_PROJECT, LABEL_TEMPLATE
    from tcli.project import Project

    project = Project.load(project_dir)
    labels = {LABEL_PROJECT: str(project.root)}
    if template is not None:
        labels[LABEL_TEMPLATE] = project.select(template).key
    found = engine.containers_with_labels(engine.connect(), labels)
    if not found:
        raise InputError(f"{project.root}: no dev-run container of this project found",
                         "run tc dev-run first, or give a log file: tc explain LOG")
    container = found[0]
    if engine.status(container) in ("running", "restarting"):
        raise InputError(f"container {container.name} is still running",
                         "wait for it to end, then run tc explain --last again")
    state = engine.wait(container)
    lines = list(deque(engine.stream_lines(container), maxlen=LAST_TAIL))
    problem, model_filepath = _model_problem(project, template, container)
    return explain_lines(lines, source=f"container {container.name}",
                         exit_code=state.exit_code, oom_killed=state.oom_killed, score=score,
                         model_problem=problem, model_filepath=model_filepath)


def _model_problem(project: Any, template: str | None, container: Any) -> tuple[str | None, str]:
    """What tc dev-run says of the model file after that container's run (missing, or older
    than the container's last start), as (problem, model_filepath); (None, "") when the
    template or its custom.json cannot tell."""
    from tcli import engine
    from tcli.custom_json import read_custom
    from tcli.devrun.follow import model_check

    started = engine.started_at(container)
    try:
        custom = read_custom(project.select(template))
    except TcError:
        return None, ""
    if started is None:
        return None, custom.model_filepath
    return model_check(project, custom, container, started)[2], custom.model_filepath
