"""Hostile input to ``tc new`` and ``tc update``: names, unusable places, the scaffold store,
concurrency, Ctrl-C, broken answers files, and the preview/undo of an update."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.hostile.conftest import Guard, tdir
from tests.hostile.harness import REPO, assert_clean_failure, env_for, snapshot, tc
from tests.waits import SAFETY_NET, wait_for_path

NEW = ("--template", "sklearn", "--category", "Cat", "--architecture", "Arch", "--defaults")


def _new(tmp_path: Path, target: str | Path, provider: str = "Prov", env=None, timeout: float = 120):  # type: ignore[no-untyped-def]
    return tc("new", os.fspath(target), "--provider", provider, *NEW, cwd=tmp_path, env=env,
              timeout=timeout)


# ---- class: names (one line naming the option, exit 2, nothing created) ----------------------

@pytest.mark.parametrize("provider", [
    "Prov\n", "Prov/Sub", "..", ".", "", "a b", "Prov\x1b[31m",
    "P" * 300, "-rf", "Prov\t",
])
def test_bad_provider_names(tmp_path: Path, guard: Guard, provider: str) -> None:
    guard.start()
    r = _new(tmp_path, "proj", provider)
    guard.check()
    assert not (tmp_path / "proj").exists()
    assert_clean_failure(r, 2, r"provider|Provider|name|null")


def test_long_project_folder_name(tmp_path: Path, guard: Guard) -> None:
    guard.start()
    r = _new(tmp_path, "p" * 300)
    guard.check()
    assert_clean_failure(r, 2, r"too long|name")


# ---- class: unusable places -> exit 2 with the path, never 70 --------------------------------

def test_target_under_a_file(tmp_path: Path, guard: Guard) -> None:
    (tmp_path / "afile").write_text("x")
    guard.start()
    r = _new(tmp_path, tmp_path / "afile" / "proj")
    guard.check()
    assert_clean_failure(r, 2, r"afile")


def test_target_on_a_read_only_file_system(tmp_path: Path, guard: Guard) -> None:
    guard.start()
    r = _new(tmp_path, "/proc/tc-hostile-proj")
    guard.check()
    assert not Path("/proc/tc-hostile-proj").exists()
    assert_clean_failure(r, 2, r"/proc/tc-hostile-proj")


def test_tc_home_is_a_file(tmp_path: Path, guard: Guard) -> None:
    home = tmp_path / "home-file"
    home.write_text("not a folder")
    guard.start()
    r = _new(tmp_path, "proj", env=env_for(tmp_path, TC_HOME=str(home)))
    guard.check()
    assert_clean_failure(r, 2, r"TC_HOME|home-file")


def test_target_is_a_non_empty_folder(tmp_path: Path, guard: Guard) -> None:
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "mine.txt").write_text("keep me")
    guard.start()
    r = _new(tmp_path, "proj")
    guard.check()
    assert_clean_failure(r, 2, r"proj")


# ---- class: the scaffold store (shared state under TC_HOME) ----------------------------------

def test_store_keeps_files_it_did_not_create(tmp_path: Path) -> None:
    store = tmp_path / ".tc-home" / "scaffold-store"
    store.mkdir(parents=True)
    (store / "my-notes.txt").write_text("mine")
    (store / "keep").mkdir()
    (store / "keep" / "x").write_text("mine too")
    r = _new(tmp_path, "proj")
    both = r.stdout + r.stderr
    assert "Traceback" not in both and "internal error" not in both
    assert (store / "my-notes.txt").is_file() and (store / "my-notes.txt").read_text() == "mine"
    assert (store / "keep" / "x").is_file() and (store / "keep" / "x").read_text() == "mine too"


def test_six_concurrent_new(tmp_path: Path) -> None:
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda i: _new(tmp_path, f"p{i}", timeout=300), range(6)))
    assert [r.rc for r in results] == [0] * 6, [r.stderr for r in results if r.rc]
    # the project files, not .git (its object fan-out folders depend on each project's hashes)
    counts = {len([p for p in (tmp_path / f"p{i}").rglob("*") if ".git" not in p.parts]) for i in range(6)}
    assert len(counts) == 1
    store = tmp_path / ".tc-home" / "scaffold-store"
    st = subprocess.run(["git", "status", "--porcelain"], cwd=store, capture_output=True, text=True)
    assert st.stdout == ""


def test_ctrl_c_during_git_init_leaves_nothing_half_made(tmp_path: Path) -> None:
    """A ``git commit`` that hangs (as on a slow disk) is interrupted; tc new then works again.

    The stand-in git marks the moment it is inside the project's first commit (a file) and then
    blocks; the SIGINT is sent only after that mark, so the interrupt always lands in the commit
    whatever the machine's load (no fixed delay)."""
    fake = tmp_path / "slowbin"
    fake.mkdir()
    mark = tmp_path / "in-commit"
    real_git = shutil.which("git")
    assert real_git
    # only the project's commit blocks (not the scaffold store's); exec: the kill hits the sleep
    (fake / "git").write_text(
        '#!/bin/sh\n'
        'case "$*" in *commit*"Train container"*) if [ -n "$TC_SLOW_GIT" ]; then\n'
        '  : > "$TC_SLOW_GIT"; exec sleep 600; fi;; esac\n'
        f'exec {real_git} "$@"\n')
    (fake / "git").chmod(0o755)
    env = env_for(tmp_path, TC_SLOW_GIT=str(mark))
    env["PATH"] = f"{fake}{os.pathsep}{env['PATH']}"
    p = subprocess.Popen([sys.executable, "-m", "tcli", "new", "proj", "--provider", "Prov", *NEW],
                         cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for_path(mark, proc=p)
        p.send_signal(signal.SIGINT)
        _out, err = p.communicate(timeout=SAFETY_NET)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert p.returncode == 130, err.decode()
    assert b"Traceback" not in err
    assert not (tmp_path / "proj").exists(), "the interrupted project folder was left behind"
    env.pop("TC_SLOW_GIT")
    r = tc("new", "proj", "--provider", "Prov", *NEW, cwd=tmp_path, env=env, timeout=SAFETY_NET)
    assert r.rc == 0, r.stderr


# ---- class: broken answers files under tc update ---------------------------------------------

@pytest.mark.parametrize("content", [
    b"\x00\xff\xfe binary \x00", b"- a\n- b\n", b"just a string\n", b"{{{{: [\n", b"",
    b"_commit: 1\n_src_path: /etc\n" + b"x: " + b"[" * 5000 + b"\n",
])
def test_update_with_a_broken_answers_file(proj: Path, guard: Guard, content: bytes) -> None:
    subprocess.run(["git", "commit", "-qam", "x", "--allow-empty"], cwd=proj, env=env_for(proj.parent),
                   check=False, capture_output=True)
    (proj / ".copier-answers.yml").write_bytes(content)
    guard.start(proj / ".git")
    r = tc("update", str(proj), cwd=proj.parent)
    guard.check()
    assert_clean_failure(r, 2, r"copier-answers")


def test_update_outside_a_project(tmp_path: Path, guard: Guard) -> None:
    (tmp_path / "empty").mkdir()
    guard.start()
    r = tc("update", str(tmp_path / "empty"), cwd=tmp_path)
    guard.check()
    assert_clean_failure(r, 2, r"empty")


# ---- class: update preview and undo ----------------------------------------------------------

def test_update_dry_run_writes_nothing(proj: Path, guard: Guard) -> None:
    guard.start()
    r = tc("update", "--dry-run", str(proj), cwd=proj.parent)
    guard.check()
    assert r.rc == 0, r.stderr
    assert "unchanged" in r.stdout


def test_update_undo_restores_the_tree(proj: Path) -> None:
    before = snapshot(proj, (proj / ".git",))
    r = tc("update", "--force", str(proj), cwd=proj.parent)
    assert r.rc == 0, r.stderr
    r = tc("update", "--undo", str(proj), cwd=proj.parent)
    assert r.rc == 0, r.stderr
    assert snapshot(proj, (proj / ".git",)) == before



def test_update_undo_of_a_real_forced_update(tmp_path: Path) -> None:
    """A project made here, a tc whose scaffolds changed since (TC_SCAFFOLDS_DIR), a dirty
    tree updated with --force: the undo gives back the very same tree."""
    assert _new(tmp_path, "mine").rc == 0
    proj = tmp_path / "mine"
    scaffolds = tmp_path / "scaffolds"
    shutil.copytree(REPO / "scaffolds", scaffolds, ignore=shutil.ignore_patterns("__pycache__"))
    readme = scaffolds / "project" / "README.md.jinja"
    readme.write_text(readme.read_text() + "\nNewer scaffold.\n")
    (scaffolds / "project" / "NEWS.md").write_text("news\n")
    env = env_for(tmp_path, TC_SCAFFOLDS_DIR=str(scaffolds))
    (tdir(proj) / "docker" / "train.py").write_text("# mine, uncommitted\n")
    (proj / "untracked.txt").write_text("mine\n")
    before = snapshot(proj, (proj / ".git",))
    r = tc("update", "--force", str(proj), cwd=tmp_path, env=env)
    assert r.rc == 0, r.stderr
    assert "Newer scaffold." in (proj / "README.md").read_text() and (proj / "NEWS.md").exists()
    r = tc("update", "--undo", str(proj), cwd=tmp_path, env=env)
    assert r.rc == 0, r.stderr
    assert snapshot(proj, (proj / ".git",)) == before


def test_update_undo_with_nothing_recorded(proj: Path, guard: Guard) -> None:
    guard.start()
    r = tc("update", "--undo", str(proj), cwd=proj.parent)
    guard.check()
    assert_clean_failure(r, 2, r"nothing to undo: no tc update is recorded")


def test_update_undo_outside_a_repository(tmp_path: Path, guard: Guard) -> None:
    (tmp_path / "plain").mkdir()
    guard.start()
    r = tc("update", "--undo", str(tmp_path / "plain"), cwd=tmp_path)
    guard.check()
    assert_clean_failure(r, 2, r"not a git repository; nothing to undo")


@pytest.mark.parametrize("content", [
    b"", b"\xff\xfe\x00garbage", b"[]", b"{", b"[" * 5000,
    b'{"format": 99}',
    b'{"format": 1, "state": "committed"}',
])
def test_update_undo_with_a_broken_record(proj: Path, guard: Guard, content: bytes) -> None:
    (proj / ".git" / "tc-update.json").write_bytes(content)
    guard.start()
    r = tc("update", "--undo", str(proj), cwd=proj.parent)
    guard.check()
    assert_clean_failure(r, 2, r"tc-update\.json")


@pytest.mark.parametrize("bad", ["../outside.txt", "/etc/hostname", ".git/config", "a/../../outside.txt"])
def test_update_undo_never_deletes_outside_the_project(proj: Path, guard: Guard, bad: str) -> None:
    (proj.parent / "outside.txt").write_text("not tc's\n")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=proj, capture_output=True, text=True,
                          check=True).stdout.strip()
    record = {"format": 1, "state": "uncommitted", "from_version": "a", "to_version": "b",
              "head_before": head, "snapshot": None, "index_tree": None, "update_commit": None,
              "created": [bad], "after": {bad: None}}
    (proj / ".git" / "tc-update.json").write_text(json.dumps(record))
    guard.start()
    r = tc("update", "--undo", str(proj), cwd=proj.parent)
    guard.check()
    assert_clean_failure(r, 2, r"not a valid record of a tc update")


def test_update_undo_with_a_record_that_is_a_folder(proj: Path, guard: Guard) -> None:
    (proj / ".git" / "tc-update.json").mkdir()
    guard.start()
    r = tc("update", "--undo", str(proj), cwd=proj.parent)
    guard.check()
    assert_clean_failure(r, 2, r"tc-update\.json")
