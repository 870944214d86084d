"""Containers: create with the platform's flags, start, follow logs, wait, files in and out."""

from __future__ import annotations

import contextlib
import io
import re
import tarfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import docker.errors
import docker.types

from tcli.contract import DROPPABLE_ULIMITS
from tcli.engine.client import _SDK_ERRORS, START_DOCKER_HINT, _explain
from tcli.errors import DockerError
from tcli.job.local import RunSpec as RunSpec  # re-exported: what create_and_start takes

#: What a start refused for a ulimit says (runc: "error setting rlimit type 8", "memlock").
_RLIMIT = re.compile("|".join(["rlimit", *sorted(DROPPABLE_ULIMITS)]), re.IGNORECASE)


# --------------------------------------------------------------------------- containers


def gpu_requests(gpus: str) -> list[Any]:
    """Device requests for ``all`` or a comma-separated list of device ids (``0``, ``0,1``)."""
    if gpus == "all":
        return [docker.types.DeviceRequest(count=-1, capabilities=[["gpu"]])]
    ids = [part.strip() for part in gpus.split(",") if part.strip()]
    return [docker.types.DeviceRequest(device_ids=ids, capabilities=[["gpu"]])]


def find_container(client: Any, name: str) -> Any | None:
    """The container called ``name`` (running or not), or None."""
    try:
        return client.containers.get(name)
    except docker.errors.NotFound:
        return None
    except _SDK_ERRORS as exc:
        raise DockerError(f"cannot inspect container {name}: {exc}", START_DOCKER_HINT) from None


def containers_with_labels(client: Any, labels: dict[str, str]) -> list[Any]:
    """Every container (running or not) carrying all ``labels``, newest first."""
    filters = {"label": [f"{k}={v}" for k, v in labels.items()]}
    try:
        found = client.containers.list(all=True, filters=filters)
    except _SDK_ERRORS as exc:
        raise DockerError(f"cannot list containers: {exc}", START_DOCKER_HINT) from None
    return sorted(found, key=lambda c: str(c.attrs.get("Created", "")), reverse=True)


def _create(client: Any, spec: RunSpec, ulimits: tuple[tuple[str, int, int], ...]) -> Any:
    return client.containers.create(
        spec.image,
        command=spec.command,
        name=spec.name,
        environment=spec.environment,
        volumes=spec.volumes,
        device_requests=gpu_requests(spec.gpus) if spec.gpus else None,
        ulimits=[docker.types.Ulimit(name=n, soft=s, hard=h) for n, s, h in ulimits] or None,
        ipc_mode=spec.ipc_mode,
        shm_size=spec.shm_size,
        network_mode=spec.network_mode,
        mem_limit=spec.mem_limit,
        memswap_limit=spec.mem_limit,  # no swap beyond the limit: over it is OOM, as on a GPU host
        labels=spec.labels,
        detach=True,
    )


def create_and_start(
    client: Any, spec: RunSpec, warn: Callable[[str], None] | None = None
) -> tuple[Any, tuple[tuple[str, int, int], ...]]:
    """Create and start a container; returns it and the ulimits it really got.

    A host that refuses a droppable ulimit (the contract's ``DROPPABLE_ULIMITS``: ``memlock=-1``
    on an unprivileged daemon or under a low hard limit) makes the start fail; the container is
    then recreated without those ulimits and ``warn`` is called once.
    """
    ulimits = spec.ulimits
    for attempt in (0, 1):
        try:
            container = _create(client, spec, ulimits)
        except docker.errors.ImageNotFound:
            raise DockerError(f"image {spec.image} not found", "build it first") from None
        except _SDK_ERRORS as exc:
            raise DockerError(
                f"cannot create container {spec.name}: {_explain(exc)}", START_DOCKER_HINT
            ) from None
        try:
            for path, text in spec.files:  # before the start: the job reads them at once
                put_file(container, path, text.encode("utf-8"))
        except DockerError:
            remove(container)
            raise
        try:
            container.start()
            return container, ulimits
        except _SDK_ERRORS as exc:
            text = _explain(exc)
            remove(container)
            dropped = [u for u in ulimits if u[0] in DROPPABLE_ULIMITS]
            if attempt == 0 and dropped and _RLIMIT.search(text):
                ulimits = tuple(u for u in ulimits if u[0] not in DROPPABLE_ULIMITS)
                if warn:
                    flags = " ".join(f"'--ulimit {n}={s}'" for n, s, _ in dropped)
                    warn(f"this Docker host refuses {flags} (the platform sets it); "
                         "running without it")
                continue
            raise DockerError(f"cannot start container {spec.name}: {text}", None) from None
    raise AssertionError("unreachable")  # pragma: no cover


def start(container: Any) -> None:
    """``docker start`` an existing (stopped) container."""
    try:
        container.start()
    except _SDK_ERRORS as exc:
        raise DockerError(f"cannot start container {container.name}: {_explain(exc)}") from None


def stream_lines(container: Any, since: float | None = None) -> Iterator[str]:
    """Follow the container's output (stdout and stderr), one decoded line at a time."""
    kwargs: dict[str, Any] = {"stream": True, "follow": True}
    if since is not None:
        kwargs["since"] = since
    try:
        chunks = container.logs(**kwargs)
        buf = b""
        for chunk in chunks:
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                yield line.decode("utf-8", "replace")
        if buf:
            yield buf.decode("utf-8", "replace")
    except _SDK_ERRORS as exc:
        raise DockerError(f"lost the logs of {container.name}: {_explain(exc)}") from None


@dataclass(frozen=True)
class ExitState:
    """How a container ended."""

    exit_code: int
    oom_killed: bool
    error: str


def wait(container: Any) -> ExitState:
    """Wait for the container to stop and report how it ended."""
    try:
        result = container.wait()
        container.reload()
    except _SDK_ERRORS as exc:
        raise DockerError(f"lost container {container.name}: {_explain(exc)}") from None
    state = container.attrs.get("State") or {}
    return ExitState(
        exit_code=int(state.get("ExitCode", result.get("StatusCode", -1))),
        oom_killed=bool(state.get("OOMKilled", False)),
        error=str(state.get("Error") or ""),
    )


def started_at(container: Any) -> float | None:
    """When the container last started (Unix time, from State.StartedAt), or None."""
    from datetime import datetime

    text = str((container.attrs.get("State") or {}).get("StartedAt") or "")
    match = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z", text)
    if match is None or text.startswith("0001-"):
        return None
    base = datetime.fromisoformat(match.group(1) + "+00:00").timestamp()
    return base + float(match.group(2) or 0.0)


def status(container: Any) -> str:
    """``created``, ``running``, ``exited`` … (reloaded)."""
    try:
        container.reload()
    except docker.errors.NotFound:
        return "removed"
    return str(container.status)


def stop(container: Any, timeout: int = 3) -> None:
    """Stop a container (SIGTERM, then SIGKILL after ``timeout`` seconds); ignore if gone."""
    try:
        container.stop(timeout=timeout)
    except docker.errors.NotFound:
        pass
    except _SDK_ERRORS:
        with contextlib.suppress(*_SDK_ERRORS):
            container.kill()


def remove(container: Any) -> None:
    """Remove a container (forcefully); ignore if it is already gone."""
    try:
        container.remove(force=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as exc:
        if "already in progress" not in str(exc):
            raise DockerError(f"cannot remove container {container.name}: {_explain(exc)}") from None


def put_file(container: Any, path: str, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` inside the container (the SDK's archive upload)."""
    directory, _, name = path.rpartition("/")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mode = mode
        info.mtime = int(time.time())
        tar.addfile(info, io.BytesIO(data))
    try:
        ok = container.put_archive(directory or "/", buf.getvalue())
    except _SDK_ERRORS as exc:
        raise DockerError(f"cannot write {path} into {container.name}: {_explain(exc)}") from None
    if not ok:
        raise DockerError(f"cannot write {path} into {container.name}")


def _archive(container: Any, path: str, verb: str) -> tuple[Any, dict[str, Any]] | None:
    """``get_archive`` of ``path`` (chunks, stat), or None when it does not exist."""
    try:
        chunks, stat = container.get_archive(path)
    except docker.errors.NotFound:
        return None
    except _SDK_ERRORS as exc:
        raise DockerError(f"cannot {verb} {path} {'from' if verb == 'read' else 'in'} "
                          f"{container.name}: {_explain(exc)}") from None
    return chunks, dict(stat)


def read_file(container: Any, path: str) -> bytes | None:
    """The content of ``path`` inside the container, or None when it does not exist."""
    found = _archive(container, path, "read")
    if found is None:
        return None
    buf = io.BytesIO(b"".join(found[0]))
    with tarfile.open(fileobj=buf) as tar:
        member = next((m for m in tar.getmembers() if m.isfile()), None)
        if member is None:
            return None
        extracted = tar.extractfile(member)
        return extracted.read() if extracted else None


def file_size(container: Any, path: str) -> int | None:
    """Size of ``path`` inside the container, or None when it does not exist."""
    found = _archive(container, path, "stat")
    return None if found is None else int(found[1].get("size", 0))
