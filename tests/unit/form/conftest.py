from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture()
def project(new_project: Callable[..., Path]) -> Path:
    """A private copy of the session's sklearn project (tests/conftest.py)."""
    return new_project("sklearn", name="proj")
