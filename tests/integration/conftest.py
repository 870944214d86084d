"""Integration tier: a real Docker daemon (and the local base image).

Tests here skip with a clear reason only when no daemon is reachable or the base image is
absent; the run's last line then names them and ``make test-full`` (tests/conftest.py). Under
``CI=true`` or ``TC_TEST_ALL=1`` (``make test-full``) a skipped integration test is turned into
a failure: both provide Docker and the base image, so a skip there means the tier did not run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

BASE_IMAGE = os.environ.get("TC_BASE_IMAGE") or "tc-local/pytorch:2.14.1"



@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    """A client of the real daemon; skips (with the reason) when none is reachable."""
    from tcli import engine as docker_ops
    from tcli.errors import DockerError

    try:
        client = docker_ops.connect(timeout=120)
    except DockerError as exc:
        pytest.skip(f"no Docker daemon reachable ({exc.message}); start dockerd to run this tier")
    yield client
    client.close()


@pytest.fixture(scope="session")
def base_image(docker_client: Any) -> str:
    """The local stand-in base image; skips with how to build it when absent."""
    from tcli import engine as docker_ops

    if not docker_ops.image_exists(docker_client, BASE_IMAGE):
        pytest.skip(f"base image {BASE_IMAGE} absent: build it with 'make base-image'")
    return BASE_IMAGE
