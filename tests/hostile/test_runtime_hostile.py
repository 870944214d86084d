"""Hostile config values in the image: ``config_to_args.py`` of a real project (its args.py)
must refuse argv injection and oversized values with one line, exit 2, train.py never run."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hostile.conftest import Guard, tdir


def _workspace(proj: Path, tmp_path: Path, cfg: dict) -> Path:
    ws = tmp_path / "workspace"
    ws.mkdir()
    for f in ("config.py", "config_to_args.py"):
        shutil.copy(proj / "common" / f, ws / f)
    shutil.copy(tdir(proj) / "docker" / "args.py", ws / "args.py")
    (ws / "train.py").write_text("import pathlib\npathlib.Path('TRAINED').write_text('yes')\n")
    (ws / "train_config.json").write_text(json.dumps(cfg))
    return ws


def _first_list_or_str_option(proj: Path) -> str:
    text = (tdir(proj) / "docker" / "args.py").read_text()
    return "output-dir" if "--output-dir" in text else "images-dir"


@pytest.mark.parametrize("kind", ["dash-item-long", "dash-item-short", "help-item", "huge-value",
                                  "huge-list-item", "help-key", "duplicate-key"])
def test_hostile_config_values(proj: Path, tmp_path: Path, guard: Guard, kind: str) -> None:
    key = _first_list_or_str_option(proj)
    cfg: dict = {
        "dash-item-long": {key: ["/train", "--output-dir=/etc"]},
        "dash-item-short": {key: ["-h"]},
        "help-item": {key: ["--help"]},
        "huge-value": {key: "x" * 200_000},
        "huge-list-item": {key: ["y" * 200_000]},
        "help-key": {"help": True},
        "duplicate-key": {},
    }[kind]
    ws = _workspace(proj, tmp_path, cfg)
    if kind == "duplicate-key":
        (ws / "train_config.json").write_text(f'{{"{key}": "/a", "{key}": "/b"}}')
    guard.start()
    r = subprocess.run([sys.executable, "config_to_args.py"], cwd=ws, capture_output=True, text=True,
                       timeout=60, env={"PATH": "/usr/bin:/bin", "WORKSPACE": str(ws)})
    guard.check()
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("config_to_args: error: ") and r.stderr.count("\n") == 1, r.stderr
    assert not (ws / "TRAINED").exists(), "train.py was started"
