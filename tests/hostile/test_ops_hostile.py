"""Hostile input to the ops features (issue 28): ``tc export`` option values, ``tc update
--undo`` / ``--dry-run``, ``tc dev-run``'s mock MinIO, ``tc validate --zip``, ``.env`` secrets,
the scaffold store and ``tc base-image``; and the exit-70 hunt over those commands."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hostile.conftest import Guard
from tests.hostile.harness import assert_clean_failure, tc

Env = dict[str, str]
IMAGE = "registry.example.com/team/cls:1"


# ---- class: option values with a trailing newline (or other junk) -> exit 2, nothing written ----

@pytest.mark.parametrize(("option", "value"), [
    ("--dataset-id", "42\n"),
    ("--name", "job\n"),
    ("--secret", "tc-s3\n"),
    ("--namespace", "team\n"),
    ("--output-pvc", "claim\n"),
    ("--cpu", "8\n"),
    ("--memory", "32Gi\n"),
    ("--shm-size", "8Gi\n"),
])
def test_export_option_with_a_trailing_newline(proj: Path, guard: Guard, env: Env, option: str,
                                               value: str) -> None:
    args = {"--dataset-id": "42", option: value}
    out = proj.parent / "job.yaml"
    guard.start()
    r = tc("export", "--image", IMAGE, *[x for kv in args.items() for x in kv], "-o", out,
           cwd=proj, env=env)
    guard.check()
    assert not out.exists()
    assert_clean_failure(r, 2, rf"^error: {option} '.*\\n' is not ")


def test_export_to_an_unwritable_place(proj: Path, guard: Guard, env: Env) -> None:
    guard.start()
    r = tc("export", "--image", IMAGE, "--dataset-id", "42", "-o", "/proc/tc-job.yaml", cwd=proj,
           env=env)
    guard.check()
    assert_clean_failure(r, 2, r"/proc/tc-job\.yaml: cannot write")
