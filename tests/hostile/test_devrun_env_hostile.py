"""Hostile flags to ``tc dev-run`` (refused before any Docker work) and a hostile environment
(iproute2's ``tc`` first on PATH, ``TC_HOME`` unusable)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.hostile.conftest import Guard
from tests.hostile.harness import assert_clean_failure, env_for, tc


@pytest.mark.parametrize("args, message", [
    (["--gpus", "x;y"], r"--gpus"),
    (["--gpus", "0,../1"], r"--gpus"),
    (["--dataset", "/dev/zero"], r"/dev/zero"),
    (["--dataset-id", "-5"], r"--dataset-id"),
    (["--template", "Nope/X/Y"], r"--template"),
    (["--template", "../../etc"], r"--template"),
    # flags are checked before any dataset or Docker work (never --demo here: it would build)
    (["--memory", "lots"], r"--memory"),
    (["--demo-images", "-1", "--demo"], r"images"),
])
def test_dev_run_bad_flags(proj: Path, guard: Guard, args: list[str], message: str) -> None:
    guard.start(proj / ".tc")
    r = tc("dev-run", str(proj), *args, cwd=proj.parent, timeout=60)
    guard.check()
    assert_clean_failure(r, 2, message)


@pytest.mark.parametrize("alias", [["traincontainer"], ["-m", "tcli"]])
def test_aliases_run_tc_when_iproute2_tc_comes_first(tmp_path: Path, alias: list[str]) -> None:
    import subprocess
    import sys

    sbin = tmp_path / "sbin"
    sbin.mkdir()
    (sbin / "tc").write_text("#!/bin/sh\necho 'Usage: tc [ OPTIONS ] OBJECT { COMMAND | help }'\nexit 255\n")
    (sbin / "tc").chmod(0o755)
    env = env_for(tmp_path)
    env["PATH"] = f"{sbin}{os.pathsep}{env['PATH']}"
    exe = ([str(Path(sys.executable).parent / alias[0])] if alias[0] == "traincontainer"
           else [sys.executable, *alias])
    r = subprocess.run([*exe, "--version"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.startswith("tc "), r.stdout + r.stderr
    from tcli.safety.clash import detect_tc_clash

    assert str(sbin / "tc") in (detect_tc_clash(env["PATH"]) or "")


@pytest.mark.parametrize("home", ["/dev/null", "file"])
def test_unusable_tc_home(tmp_path: Path, guard: Guard, home: str) -> None:
    (tmp_path / "file").write_text("x")
    path = home if home.startswith("/") else str(tmp_path / home)
    guard.start()
    r = tc("new", "proj", "--template", "sklearn", "--provider", "Prov", "--category", "Cat",
           "--architecture", "Arch", "--defaults", cwd=tmp_path, env=env_for(tmp_path, TC_HOME=path))
    guard.check()
    assert not (tmp_path / "proj").exists()
    assert_clean_failure(r, 2, r"TC_HOME")
