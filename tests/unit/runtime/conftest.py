"""Helpers for the in-image runtime tests: tiny synthetic CVAT datasets on disk."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
COMMON = REPO / "scaffolds" / "project" / "common"
DATASETS = REPO / "scaffolds" / "project" / "datasets"
EXPORT = REPO / "scaffolds" / "project" / "export"


@pytest.fixture(autouse=True)
def _runtime_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    for d in (COMMON, DATASETS, EXPORT):
        monkeypatch.syspath_prepend(str(d))
