"""Connect to the Docker engine and read its facts; the SDK's errors become tc's errors here.

Part of :mod:`tcli.engine`, the only package of tc that imports ``docker``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import docker
import docker.errors
import requests.exceptions

from tcli.contract import LOCAL_BASE_IMAGE
from tcli.errors import DockerError

START_DOCKER_HINT = (
    "start the Docker daemon ('sudo systemctl start docker', or 'sudo dockerd &' without "
    "systemd), check DOCKER_HOST, and that your user is in the 'docker' group; "
    "'tc doctor' checks the whole setup"
)
BASE_IMAGE_HINT = (
    "build a local stand-in without any registry ('make base-image', or 'tc base-image "
    f"--flavor torch|sklearn') and pass --base-image {LOCAL_BASE_IMAGE} "
    "(or set TC_BASE_IMAGE); or 'docker login nvcr.io' where the registry is reachable"
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


def _explain(exc: BaseException) -> str:
    return _one_line(str(getattr(exc, "explanation", None) or exc))


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _short(text: str, limit: int = 80) -> str:
    text = _one_line(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"
