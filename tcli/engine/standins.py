"""Stand-in base images: import a root file system, run an install job, commit it (docker SDK).

Used by :mod:`tcli.baseimage`; like the rest of ``engine/`` every function takes the client
(or a container) and turns SDK errors into tc's errors.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker.errors
import docker.types

from tcli.engine.client import _SDK_ERRORS, START_DOCKER_HINT, _explain
from tcli.engine.containers import stream_lines, wait
from tcli.engine.images import image_exists
from tcli.errors import DockerError


@dataclass(frozen=True)
class ImageInfo:
    """What ``tc doctor`` and the stand-in builder need to know of a local image."""

    ref: str
    size: int
    created: str
    labels: dict[str, str]


def image_info(client: Any, ref: str) -> ImageInfo | None:
    """Size, creation time and labels of a local image, or None when it is absent."""
    try:
        image = client.images.get(ref)
    except docker.errors.ImageNotFound:
        return None
    except _SDK_ERRORS as exc:
        raise DockerError(f"cannot inspect image {ref}: {_explain(exc)}", START_DOCKER_HINT) from None
    attrs = image.attrs or {}
    labels = (attrs.get("Config") or {}).get("Labels") or {}
    return ImageInfo(
        ref=ref,
        size=int(attrs.get("Size") or 0),
        created=str(attrs.get("Created") or ""),
        labels={str(k): str(v) for k, v in labels.items()},
    )


def import_rootfs(client: Any, tarball: Path, ref: str, changes: list[str]) -> None:
    """``docker import`` a root file system tarball as ``ref`` (with Dockerfile ``changes``)."""
    repository, _, tag = ref.rpartition(":")
    try:
        client.api.import_image_from_file(str(tarball), repository=repository, tag=tag, changes=changes)
    except _SDK_ERRORS as exc:
        raise DockerError(f"cannot import {tarball} as {ref}: {_explain(exc)}", START_DOCKER_HINT) from None
    if not image_exists(client, ref):
        raise DockerError(f"importing {tarball} as {ref} produced no image (is the disk full?)")


def run_job(
    client: Any,
    image: str,
    command: list[str],
    *,
    name: str,
    binds: dict[str, str],
    environment: dict[str, str],
    network_mode: str = "none",
    labels: dict[str, str] | None = None,
    on_line: Callable[[str], None] | None = None,
) -> tuple[Any, int, list[str]]:
    """Run ``command`` in a new (kept) container to its end: (container, exit code, last lines).

    ``binds`` maps host paths to read-only targets. They are bind *mounts* and the environment
    is given to the command (``env``), not the container, so neither ends up in the config of
    an image committed from it. The container is left for the caller to commit or remove; on
    Ctrl-C or an SDK error it is removed here before the exception goes on.
    """
    container: Any = None
    tail: list[str] = []
    mounts = [docker.types.Mount(target, source, type="bind", read_only=True)
              for source, target in binds.items()]
    argv = ["env", *(f"{k}={v}" for k, v in environment.items()), *command]
    try:
        container = client.containers.run(
            image, argv, name=name, detach=True, mounts=mounts,
            network_mode=network_mode, labels=labels or {},
        )
        for line in stream_lines(container):
            tail = [*tail[-39:], line]
            if on_line is not None:
                on_line(line)
        state = wait(container)
        return container, state.exit_code, tail
    except BaseException as exc:
        if container is not None:
            with contextlib.suppress(Exception):
                container.remove(force=True)
        if isinstance(exc, _SDK_ERRORS):
            raise DockerError(f"cannot run {image} ({name}): {_explain(exc)}", START_DOCKER_HINT) from None
        raise


def commit(container: Any, ref: str, changes: list[str]) -> None:
    """``docker commit`` the container as ``ref`` (the tag appears only when the commit is whole)."""
    repository, _, tag = ref.rpartition(":")
    try:
        container.commit(repository=repository, tag=tag, changes=changes)
    except _SDK_ERRORS as exc:
        raise DockerError(f"cannot commit {container.name} as {ref}: {_explain(exc)}") from None
