"""Pushing an image to a registry (``tc build --push``).

Part of :mod:`tcli.engine`, the only package of tc that imports ``docker``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tcli.engine.client import _SDK_ERRORS, _explain
from tcli.errors import DockerError

PUSH_HINT = ("is the registry running and reachable from the Docker daemon? A plain-HTTP "
             "registry other than 127.0.0.1/localhost must be in the daemon's "
             "insecure-registries; log in first with 'docker login REGISTRY' when it needs it")


def push_image(client: Any, repository: str, tag: str,
               on_status: Callable[[str], None] | None = None) -> str:
    """Push ``repository:tag`` (already built) to its registry; returns the manifest digest."""
    emit = on_status or (lambda line: None)
    name = f"{repository}:{tag}"
    digest = ""
    try:
        for chunk in client.api.push(repository, tag=tag, stream=True, decode=True):
            if "error" in chunk or "errorDetail" in chunk:
                detail = chunk.get("errorDetail") or {}
                message = str(detail.get("message") or chunk.get("error") or "unknown error")
                raise DockerError(f"push of {name} failed: {message.splitlines()[0]}", PUSH_HINT)
            aux = chunk.get("aux")
            if isinstance(aux, dict) and aux.get("Digest"):
                digest = str(aux["Digest"])
            status = chunk.get("status")
            if status and not chunk.get("progressDetail"):
                layer = chunk.get("id")
                emit(f"{layer}: {status}" if layer else str(status))
    except _SDK_ERRORS as exc:
        raise DockerError(f"push of {name} failed: {_explain(exc)}", PUSH_HINT) from None
    if not digest:
        raise DockerError(f"push of {name} reported no digest", PUSH_HINT)
    return digest
