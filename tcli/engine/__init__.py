"""The only package of tc that talks to the Docker engine (through the Docker SDK).

Every function takes the client (or a container) as its first argument, so callers and tests
choose which engine they talk to. Errors of the SDK are turned into tc's errors here, with a
hint saying what to do; nothing above this package sees a ``docker`` exception.

Importing it imports ``docker``: callers import it inside functions (``tc --help`` stays light).
"""

from __future__ import annotations

from tcli.engine.client import (
    BASE_IMAGE_HINT,
    START_DOCKER_HINT,
    DaemonInfo,
    connect,
    daemon_info,
    docker_host,
)
from tcli.engine.containers import (
    ExitState,
    RunSpec,
    containers_with_labels,
    create_and_start,
    file_size,
    find_container,
    gpu_requests,
    put_file,
    read_file,
    remove,
    start,
    started_at,
    status,
    stop,
    stream_lines,
    wait,
)
from tcli.engine.images import (
    BuildEvent,
    BuildResult,
    BuildStep,
    BuildStepFailed,
    build_image,
    ensure_image,
    image_exists,
)
from tcli.engine.standins import ImageInfo, commit, image_info, import_rootfs, run_job

__all__ = [
    "BASE_IMAGE_HINT",
    "START_DOCKER_HINT",
    "BuildEvent",
    "BuildResult",
    "BuildStep",
    "BuildStepFailed",
    "DaemonInfo",
    "ExitState",
    "ImageInfo",
    "RunSpec",
    "build_image",
    "commit",
    "connect",
    "containers_with_labels",
    "create_and_start",
    "daemon_info",
    "docker_host",
    "ensure_image",
    "file_size",
    "find_container",
    "gpu_requests",
    "image_exists",
    "image_info",
    "import_rootfs",
    "put_file",
    "read_file",
    "remove",
    "run_job",
    "start",
    "started_at",
    "status",
    "stop",
    "stream_lines",
    "wait",
]
