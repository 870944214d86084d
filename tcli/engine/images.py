"""Images: presence, pulls and the legacy builder's streamed build (parsed into steps).

The SDK's ``build`` uses the engine's legacy builder: its output is a stream of
``Step i/n : INSTRUCTION`` lines, ``---> Using cache`` markers and step output, which
:func:`build_image` parses into steps.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker.errors

from tcli.engine.client import (
    _SDK_ERRORS,
    BASE_IMAGE_HINT,
    START_DOCKER_HINT,
    _one_line,
    _short,
)
from tcli.errors import BuildFailed, DockerError

_STEP = re.compile(r"Step (\d+)/(\d+) : (.*)")  # fullmatch
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
#: Builder chatter that is not a step's output.
_NOISE = re.compile(
    r"^\s*(?:(?:---> )?(?:Removing intermediate container|Successfully built|"
    r"Successfully tagged|Running in [0-9a-f]+\Z)|---> [0-9a-f]+\Z)"
)
_PULL_FAILED = re.compile(
    r"pull access denied|manifest unknown|not found|no such host|dial tcp|"
    r"repository does not exist|unauthorized|timeout|connection refused",
    re.IGNORECASE,
)


# --------------------------------------------------------------------------- images


def image_exists(client: Any, ref: str) -> bool:
    """Whether ``ref`` is present in the engine's local image store."""
    try:
        client.images.get(ref)
    except docker.errors.ImageNotFound:
        return False
    except _SDK_ERRORS as exc:
        raise DockerError(f"cannot inspect image {ref}: {exc}", START_DOCKER_HINT) from None
    return True


def ensure_image(client: Any, ref: str, on_status: Callable[[str], None] | None = None) -> bool:
    """Make ``ref`` available locally: present, or pulled. Returns True when it was pulled.

    Raises:
        DockerError: not present and the pull failed; the hint names ``--base-image`` and
            ``make base-image``.
    """
    if image_exists(client, ref):
        return False
    if on_status:
        on_status(f"base image {ref} not present locally: pulling it")
    try:
        repo, _, tag = ref.rpartition(":") if ":" in ref.split("/")[-1] else (ref, "", "latest")
        client.images.pull(repo, tag=tag or "latest")
    except _SDK_ERRORS as exc:
        reason = _one_line(getattr(exc, "explanation", None) or str(exc))
        raise DockerError(
            f"base image {ref} is not available locally and cannot be pulled ({reason})",
            BASE_IMAGE_HINT,
        ) from None
    return True


# --------------------------------------------------------------------------- build


@dataclass
class BuildStep:
    """One Dockerfile instruction as the legacy builder reported it."""

    number: int
    total: int
    instruction: str
    cached: bool = False
    output: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class BuildResult:
    """A finished build."""

    image_id: str
    steps: list[BuildStep]
    log: list[str]
    seconds: float

    @property
    def cached_steps(self) -> list[BuildStep]:
        return [s for s in self.steps if s.cached]


class BuildStepFailed(BuildFailed):
    """A build step failed; ``step`` holds its instruction and output."""

    def __init__(self, message: str, hint: str | None, step: BuildStep | None) -> None:
        super().__init__(message, hint)
        self.step = step


#: (kind, step, line) with kind one of "step", "cached", "output", "status"
BuildEvent = tuple[str, BuildStep | None, str]


def build_image(
    client: Any,
    context_dir: Path,
    tag: str,
    *,
    buildargs: dict[str, str] | None = None,
    network_mode: str | None = None,
    nocache: bool = False,
    labels: dict[str, str] | None = None,
    on_event: Callable[[BuildEvent], None] | None = None,
) -> BuildResult:
    """Build ``context_dir`` (which holds the Dockerfile) as ``tag``, streaming events.

    Raises:
        BuildStepFailed: a step failed (message names the step, ``.step.output`` its output).
        DockerError: the daemon failed or the base image is unavailable.
    """
    emit = on_event or (lambda event: None)
    steps: list[BuildStep] = []
    log: list[str] = []
    image_id = ""
    started = time.monotonic()
    step_started = started
    error: str | None = None
    try:
        stream = client.api.build(
            path=str(context_dir),
            tag=tag,
            buildargs=buildargs or {},
            network_mode=network_mode,
            nocache=nocache,
            rm=True,
            forcerm=True,
            decode=True,
            labels=labels or {},
        )
        pending = ""
        for chunk in stream:
            if "error" in chunk or "errorDetail" in chunk:
                detail = chunk.get("errorDetail") or {}
                error = str(detail.get("message") or chunk.get("error") or "unknown error")
                break
            if "aux" in chunk and isinstance(chunk["aux"], dict) and "ID" in chunk["aux"]:
                image_id = str(chunk["aux"]["ID"])
                continue
            if "status" in chunk:
                emit(("status", steps[-1] if steps else None, str(chunk["status"])))
                continue
            text = pending + str(chunk.get("stream", ""))
            *lines, pending = text.split("\n")
            for raw in lines:
                line = _ANSI.sub("", raw).rstrip("\r")
                log.append(line)
                match = _STEP.fullmatch(line)
                if match:
                    now = time.monotonic()
                    if steps:
                        steps[-1].seconds = now - step_started
                    step_started = now
                    steps.append(
                        BuildStep(int(match.group(1)), int(match.group(2)), match.group(3))
                    )
                    emit(("step", steps[-1], line))
                elif line.strip() == "---> Using cache" and steps:
                    steps[-1].cached = True
                    emit(("cached", steps[-1], line))
                elif line.startswith("Successfully built "):
                    image_id = image_id or line.split()[-1]
                elif steps and line.strip() and not _NOISE.match(line):
                    steps[-1].output.append(line)
                    emit(("output", steps[-1], line))
        if pending.strip():
            log.append(pending)
    except _SDK_ERRORS as exc:
        error = _one_line(getattr(exc, "explanation", None) or str(exc))
        if isinstance(exc, docker.errors.BuildError):
            error = _one_line(str(exc.msg))
        elif not isinstance(exc, docker.errors.APIError):
            raise DockerError(f"docker build of {tag} failed: {error}", START_DOCKER_HINT) from None
    now = time.monotonic()
    if steps:
        steps[-1].seconds = now - step_started
    if error is not None:
        failing = steps[-1] if steps else None
        if failing and failing.instruction.upper().startswith("FROM") and _PULL_FAILED.search(
            error
        ):
            base = (buildargs or {}).get("BASE_IMAGE") or failing.instruction.split()[-1]
            raise DockerError(
                f"base image {base} is not available locally and cannot be pulled ({error})",
                BASE_IMAGE_HINT,
            )
        where = (
            f"step {failing.number}/{failing.total} ({_short(failing.instruction)})"
            if failing
            else "the build"
        )
        raise BuildStepFailed(
            f"docker build failed at {where}: {error}",
            "the step's output is shown above; fix the Dockerfile, requirements.txt or the "
            "sources and run again (--no-cache rebuilds every layer)",
            failing,
        )
    if not image_id:
        try:
            image_id = str(client.images.get(tag).id)
        except _SDK_ERRORS:
            image_id = tag
    return BuildResult(image_id=image_id, steps=steps, log=log, seconds=now - started)
