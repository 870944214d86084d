"""Shared fixtures: repo paths, a clean environment for CLI tests, runtime import paths."""

from __future__ import annotations

import os
import sys
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
SCAFFOLDS = REPO / "scaffolds"
RUNTIME_DIRS = [
    SCAFFOLDS / "project" / "common",
    SCAFFOLDS / "project" / "datasets",
    SCAFFOLDS / "project" / "export",
]


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No colour, fixed width, and a private TC_HOME for every test."""
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("TERM", "dumb")
    if "TC_HOME" not in os.environ or not os.environ["TC_HOME"].startswith(str(REPO)):
        monkeypatch.setenv("TC_HOME", str(tmp_path_factory.getbasetemp() / "tc-home"))


@pytest.fixture()
def runtime_path(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Put the in-image runtime modules (config.py, cvat_dataset.py, export.py) on sys.path."""
    for d in RUNTIME_DIRS:
        monkeypatch.syspath_prepend(str(d))
    return RUNTIME_DIRS


def pytest_configure(config: pytest.Config) -> None:
    sys.dont_write_bytecode = True


#: Tiers whose environment CI provides: under ``CI=true`` a skip in them is a failure (the tier
#: silently did not run), outside CI it is a skip with its reason.
REQUIRED_UNDER_CI = ("integration", "browser")


def _ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    if not (_ci() and report.skipped):
        return
    tier = next((m for m in REQUIRED_UNDER_CI if item.get_closest_marker(m) is not None), None)
    if tier is not None:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"{tier} test skipped under CI=true (not allowed): {reason}"
