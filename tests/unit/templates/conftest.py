"""Import a template's train.py (and its args.py) straight from scaffolds/variants/."""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch

from tests.conftest import REPO, SCAFFOLDS

VARIANTS = SCAFFOLDS / "variants"
TINY = REPO / "tests" / "fixtures" / "tiny" / "datasets" / "1"
sys.path.insert(0, str(REPO / "tests" / "fixtures"))
import cvat_to_coco  # noqa: E402


def cpu_run(**args: Any) -> Any:
    """A one-process CPU ``tc_torch.Run`` without AMP (for a template's ``evaluate``); load a
    torchvision template first: that puts tc_torch on the path."""
    import tc_torch

    return tc_torch.Run(args=argparse.Namespace(seed=0, no_augment=True, **args),
                        dist=tc_torch.Dist(), device=torch.device("cpu"), workers=0,
                        amp_dtype=None, channels_last=False)


@pytest.fixture()
def load_train(tmp_path: Path) -> Iterator[Callable[[str], ModuleType]]:
    """``load_train("classification")`` -> that template's train module (fresh import)."""
    export_dir = tmp_path / "tc_export_dir"
    export_dir.mkdir()
    shutil.copy(SCAFFOLDS / "project" / "export" / "export.py", export_dir / "tc_export.py")
    saved_path = list(sys.path)
    loaded: list[str] = []

    def _load(template: str) -> ModuleType:
        docker = VARIANTS / template / "docker"
        for name in ("args", "train", "tc_export", "tc_torch", "tc_weights", "tc_data"):
            sys.modules.pop(name, None)
        # tc_torch.py is rendered into the docker/ folder of every torchvision template
        sys.path[:0] = [str(docker), str(export_dir), str(VARIANTS / "torch_common")]
        spec = importlib.util.spec_from_file_location(f"tc_train_{template}", docker / "train.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        loaded.append(spec.name)
        return module

    yield _load
    sys.path[:] = saved_path
    for name in ("args", "tc_export", "tc_torch", "tc_weights", "tc_data", *loaded):
        sys.modules.pop(name, None)


@pytest.fixture()
def tiny(tmp_path: Path) -> Callable[[str], Path]:
    """``tiny("detection")`` -> a DATASETS_ROOT-like folder made from the tiny fixture
    (images/{train,val} symlinks + labels/{train,val}/labels.json; tiny_2 and tiny_5,
    both triangles, in val)."""

    def _make(task: str) -> Path:
        out = tmp_path / f"datasets-{task}"
        cvat_to_coco.convert(TINY, out, task, val_every=3)
        return out

    return _make
