"""The only module of tc that talks to the Docker engine (through the Docker SDK).

Every function takes the client (or a container) as its first argument, so callers and tests
choose which engine they talk to. Errors of the SDK are turned into tc's errors here, with a
hint saying what to do; nothing above this module sees a ``docker`` exception.

The SDK's ``build`` uses the engine's legacy builder: its output is a stream of
``Step i/n : INSTRUCTION`` lines, ``---> Using cache`` markers and step output, which
:func:`build_image` parses into steps.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import tarfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors
import docker.types
import requests.exceptions

from tcli.errors import BuildFailed, DockerError

#: How the platform runs a train container (contract §4), besides GPUs and the environment.
PLATFORM_SHM_SIZE = "8g"
PLATFORM_IPC_MODE = "host"
PLATFORM_ULIMITS: tuple[tuple[str, int, int], ...] = (
    ("memlock", -1, -1),
    ("stack", 67108864, 67108864),
)

START_DOCKER_HINT = (
    "start the Docker daemon ('sudo systemctl start docker', or 'sudo dockerd &' without "
    "systemd), check DOCKER_HOST, and that your user is in the 'docker' group; "
    "'tc doctor' checks the whole setup"
)
BASE_IMAGE_HINT = (
    "build a local stand-in without any registry ('make base-image', or 'tc base-image "
    "--flavor torch|sklearn') and pass --base-image tc-local/pytorch:2.14.1 "
    "(or set TC_BASE_IMAGE); or 'docker login nvcr.io' where the registry is reachable"
)

_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
#: Builder chatter that is not a step's output.
_NOISE = re.compile(
    r"^\s*(?:(?:---> )?(?:Removing intermediate container|Successfully built|"
    r"Successfully tagged|Running in [0-9a-f]+$)|---> [0-9a-f]+$)"
)
_RLIMIT = re.compile(r"rlimit|RLIMIT|memlock", re.IGNORECASE)
_PULL_FAILED = re.compile(
    r"pull access denied|manifest unknown|not found|no such host|dial tcp|"
    r"repository does not exist|unauthorized|timeout|connection refused",
    re.IGNORECASE,
)

_SDK_ERRORS = (docker.errors.DockerException, requests.exceptions.RequestException)


def docker_host() -> str:
    """Where the SDK will look for the daemon (``DOCKER_HOST`` or the default socket)."""
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def connect(timeout: int = 600) -> Any:
    """Return a client of the daemon named by the environment, checked with a ping.

    Raises:
        DockerError: the daemon is not reachable (or refuses this user), with how to start it.
    """
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except _SDK_ERRORS as exc:
        text = str(exc)
        if "Permission denied" in text or "PermissionError" in text:
            raise DockerError(
                f"no permission to use the Docker daemon at {docker_host()}",
                "add your user to the 'docker' group ('sudo usermod -aG docker $USER', then log "
                "in again) or run tc with sudo",
            ) from None
        raise DockerError(
            f"Docker daemon not reachable at {docker_host()}", START_DOCKER_HINT
        ) from None
    return client


# --------------------------------------------------------------------------- daemon facts


@dataclass(frozen=True)
class DaemonInfo:
    """What tc needs to know about the engine."""

    server_version: str
    api_version: str
    runtimes: tuple[str, ...]
    default_runtime: str
    root_dir: str
    cpus: int
    memory_bytes: int
    os: str

    @property
    def nvidia(self) -> bool:
        """Whether the NVIDIA container runtime is configured."""
        return "nvidia" in self.runtimes or self.default_runtime == "nvidia"


def daemon_info(client: Any) -> DaemonInfo:
    """Version, runtimes and resources of the daemon."""
    try:
        info = client.info()
        version = client.version()
    except _SDK_ERRORS as exc:
        raise DockerError(f"Docker daemon at {docker_host()} failed: {exc}", START_DOCKER_HINT) from None
    return DaemonInfo(
        server_version=str(version.get("Version", "?")),
        api_version=str(version.get("ApiVersion", "?")),
        runtimes=tuple(sorted((info.get("Runtimes") or {}).keys())),
        default_runtime=str(info.get("DefaultRuntime", "")),
        root_dir=str(info.get("DockerRootDir", "")),
        cpus=int(info.get("NCPU", 0)),
        memory_bytes=int(info.get("MemTotal", 0)),
        os=str(info.get("OperatingSystem", "")),
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


def image_label(client: Any, ref: str, label: str) -> str | None:
    """A label of a local image, or None."""
    try:
        image = client.images.get(ref)
    except docker.errors.ImageNotFound:
        return None
    labels = (image.attrs.get("Config") or {}).get("Labels") or {}
    value = labels.get(label)
    return str(value) if value is not None else None


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
                match = _STEP.match(line)
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


# --------------------------------------------------------------------------- containers


@dataclass
class RunSpec:
    """How to create a train container (the platform's ``docker run`` flags)."""

    image: str
    name: str
    environment: dict[str, str]
    volumes: dict[str, dict[str, str]]
    device_requests: list[Any] = field(default_factory=list)
    ulimits: tuple[tuple[str, int, int], ...] = PLATFORM_ULIMITS
    ipc_mode: str | None = PLATFORM_IPC_MODE
    shm_size: str | None = PLATFORM_SHM_SIZE
    network_mode: str | None = None
    mem_limit: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    command: list[str] | None = None


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
        device_requests=spec.device_requests or None,
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

    A kernel that refuses ``memlock=-1`` (an unprivileged daemon, a low hard limit) makes the
    start fail; the container is then recreated without that ulimit and ``warn`` is called once.
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
            container.start()
            return container, ulimits
        except _SDK_ERRORS as exc:
            text = _explain(exc)
            remove(container)
            memlock = any(n == "memlock" for n, _, _ in ulimits)
            if attempt == 0 and memlock and _RLIMIT.search(text):
                ulimits = tuple(u for u in ulimits if u[0] != "memlock")
                if warn:
                    warn(
                        "this Docker host refuses '--ulimit memlock=-1' (the platform sets it); "
                        "running without it"
                    )
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


def read_file(container: Any, path: str) -> bytes | None:
    """The content of ``path`` inside the container, or None when it does not exist."""
    try:
        chunks, _stat = container.get_archive(path)
    except docker.errors.NotFound:
        return None
    except _SDK_ERRORS as exc:
        raise DockerError(f"cannot read {path} from {container.name}: {_explain(exc)}") from None
    buf = io.BytesIO(b"".join(chunks))
    with tarfile.open(fileobj=buf) as tar:
        member = next((m for m in tar.getmembers() if m.isfile()), None)
        if member is None:
            return None
        extracted = tar.extractfile(member)
        return extracted.read() if extracted else None


def file_size(container: Any, path: str) -> int | None:
    """Size of ``path`` inside the container, or None when it does not exist."""
    try:
        _chunks, stat = container.get_archive(path)
    except docker.errors.NotFound:
        return None
    except _SDK_ERRORS as exc:
        raise DockerError(f"cannot stat {path} in {container.name}: {_explain(exc)}") from None
    return int(stat.get("size", 0))


def _explain(exc: BaseException) -> str:
    return _one_line(str(getattr(exc, "explanation", None) or exc))


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _short(text: str, limit: int = 80) -> str:
    text = _one_line(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------- stand-in images


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
