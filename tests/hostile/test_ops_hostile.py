"""Hostile input to the ops features (issue 28): ``tc export`` option values, ``tc update
--undo`` / ``--dry-run``, ``tc dev-run``'s mock MinIO, ``tc validate --zip``, ``.env`` secrets,
the scaffold store and ``tc base-image``; and the exit-70 hunt over those commands."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.hostile.conftest import Guard, tdir
from tests.hostile.harness import REPO, assert_clean_failure, assert_finding, env_for, tc

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


# ---- class: dev-run's mock MinIO replaces only what tc made (item 7) -------------------------
# DOCKER_HOST points nowhere: each refusal must come before any Docker work.

def _no_docker(tmp_path: Path) -> Env:
    return env_for(tmp_path, DOCKER_HOST="unix:///nonexistent/tc-hostile.sock")


def _user_dataset(folder: Path) -> None:
    (folder / "annotations").mkdir(parents=True)
    (folder / "annotations" / "annotations.xml").write_text("<annotations>mine</annotations>\n")
    (folder / "field_0001.jpg").write_bytes(b"\xff\xd8 my photo")


@pytest.mark.parametrize("source", ["--demo", "--dataset"])
def test_dev_run_keeps_a_users_dataset_in_the_mock_minio(proj: Path, guard: Guard, tmp_path: Path,
                                                         source: str) -> None:
    _user_dataset(proj / ".tc" / "minio" / "datasets" / "1")
    other = tmp_path / "other"
    _user_dataset(other)
    args = ["--demo"] if source == "--demo" else ["--dataset", str(other)]
    guard.start()
    r = tc("dev-run", str(proj), *args, cwd=tmp_path, env=_no_docker(tmp_path))
    guard.check()
    assert_clean_failure(r, 2, r"datasets/1/.*: not made by tc, or changed since; nothing was "
                               r"deleted")
    assert "--dataset DIR" in r.stderr


def test_dev_run_keeps_a_demo_dataset_the_user_edited(proj: Path, guard: Guard,
                                                      tmp_path: Path) -> None:
    r = tc("demo-data", proj / ".tc" / "minio", "--task", "classification", "--images", "3",
           cwd=tmp_path, env=_no_docker(tmp_path))
    assert r.rc == 0, r.stderr
    ann = proj / ".tc" / "minio" / "datasets" / "1" / "annotations" / "annotations.xml"
    ann.write_text(ann.read_text().replace("circle", "rock"))
    guard.start()
    r = tc("dev-run", str(proj), "--demo", cwd=tmp_path, env=_no_docker(tmp_path))
    guard.check()
    assert_clean_failure(r, 2, r"annotations\.xml: not made by tc, or changed since")


@pytest.mark.parametrize("link", [".tc", ".tc/minio", ".tc/minio/datasets", ".tc/minio/datasets/1"])
def test_dev_run_never_follows_a_link_out_of_the_project(proj: Path, guard: Guard, tmp_path: Path,
                                                         link: str) -> None:
    outside = tmp_path / "outside"
    below = {".tc": "minio/datasets/1", ".tc/minio": "datasets/1", ".tc/minio/datasets": "1",
             ".tc/minio/datasets/1": ""}[link]
    _user_dataset(outside / below if below else outside)
    (proj / link).parent.mkdir(parents=True, exist_ok=True)
    (proj / link).symlink_to(outside, target_is_directory=True)
    guard.start()
    r = tc("dev-run", str(proj), "--demo", cwd=tmp_path, env=_no_docker(tmp_path))
    guard.check()
    assert_clean_failure(r, 2, r"a symlink to .*outside, outside the project; nothing was "
                               r"written or deleted")


def test_demo_data_keeps_an_edited_demo_annotation(tmp_path: Path, guard: Guard) -> None:
    r = tc("demo-data", tmp_path / "minio", "--task", "detection", "--images", "3", cwd=tmp_path)
    assert r.rc == 0, r.stderr
    ann = tmp_path / "minio" / "datasets" / "1" / "annotations" / "annotations.xml"
    ann.write_text(ann.read_text().replace('xtl="', 'xtl="1'))  # the user's corrected boxes
    guard.start()
    r = tc("demo-data", tmp_path / "minio", "--task", "detection", "--images", "3", cwd=tmp_path)
    guard.check()
    assert_clean_failure(r, 2, r"annotations\.xml: not written by tc demo-data \(or changed since\)")


# ---- class: tc update --undo deletes only what the update wrote, on a record that is true (11) --

def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                          check=True).stdout.strip()


def _newer_scaffolds(tmp_path: Path) -> Env:
    """A tc whose scaffolds changed since the project was made (TC_SCAFFOLDS_DIR)."""
    scaffolds = tmp_path / "scaffolds"
    shutil.copytree(REPO / "scaffolds", scaffolds, ignore=shutil.ignore_patterns("__pycache__"))
    readme = scaffolds / "project" / "README.md.jinja"
    readme.write_text(readme.read_text() + "\nNewer scaffold.\n")
    (scaffolds / "project" / "NEWS.md").write_text("news\n")
    return env_for(tmp_path, TC_SCAFFOLDS_DIR=str(scaffolds))


def _user_commit(proj: Path) -> tuple[str, str]:
    """A commit of the user's on top of the project: (its parent, it)."""
    (proj / "NOTES.md").write_text("my notes\n")
    _git(proj, "add", "NOTES.md")
    _git(proj, "commit", "-qm", "my own work")
    return _git(proj, "rev-parse", "HEAD~1"), _git(proj, "rev-parse", "HEAD")


def _record(proj: Path, **fields: object) -> None:
    data: dict[str, object] = {"format": 1, "state": "committed", "from_version": "0.1.0.post1",
                               "to_version": "0.1.0.post1", "head_before": None, "snapshot": None,
                               "index_tree": None, "update_commit": None, "created": [],
                               "after": {}}
    data.update(fields)
    (proj / ".git" / "tc-update.json").write_text(json.dumps(data))


def test_undo_keeps_a_file_another_process_wrote_during_the_update(tmp_path: Path) -> None:
    """A model written (git-ignored) while tc update runs is not the update's: undo keeps it.
    A ``git`` first on PATH writes it just before tc commits the update (no race)."""
    assert tc("new", "mine", "--provider", "Prov", "--category", "Cat", "--architecture", "Arch",
              "--template", "sklearn", "--defaults", cwd=tmp_path).rc == 0
    proj = tmp_path / "mine"
    env = _newer_scaffolds(tmp_path)
    shim = tmp_path / "shim"
    shim.mkdir()
    real_git = shutil.which("git")
    (shim / "git").write_text(
        "#!/bin/sh\n"
        f'case "$*" in *"tc update: scaffolds"*) printf weights > "{proj}/model.onnx";; esac\n'
        f'exec {real_git} "$@"\n')
    (shim / "git").chmod(0o755)
    env["PATH"] = f"{shim}:{env['PATH']}"
    r = tc("update", str(proj), cwd=tmp_path, env=env)
    assert r.rc == 0, r.stderr
    assert (proj / "model.onnx").read_bytes() == b"weights"
    r = tc("update", "--undo", str(proj), cwd=tmp_path, env=env)
    assert r.rc == 0, r.stderr
    assert (proj / "model.onnx").read_bytes() == b"weights"
    assert not (proj / "NEWS.md").exists()


def test_undo_refuses_a_record_naming_a_users_commit(proj: Path, guard: Guard, env: Env) -> None:
    base, mine = _user_commit(proj)
    _record(proj, head_before=base, update_commit=mine)
    guard.start(proj / ".git")
    r = tc("update", "--undo", str(proj), cwd=proj.parent, env=env)
    guard.check()
    assert _git(proj, "rev-parse", "HEAD") == mine
    assert_clean_failure(r, 2, r"tc-update\.json: not the record of a tc update of this "
                               r"repository \(.* is not a tc update commit on .*\); nothing was undone")


def test_undo_refuses_a_record_naming_a_users_commit_as_the_snapshot(proj: Path, guard: Guard,
                                                                     env: Env) -> None:
    base, mine = _user_commit(proj)
    _record(proj, state="uncommitted", head_before=base, snapshot=mine)
    guard.start(proj / ".git")
    r = tc("update", "--undo", str(proj), cwd=proj.parent, env=env)
    guard.check()
    assert _git(proj, "rev-parse", "HEAD") == mine
    assert_clean_failure(r, 2, r"is not a tc update snapshot commit\); nothing was undone")


@pytest.mark.parametrize("victim", ["model.onnx", "train-container-publish.zip", "README.md"])
def test_undo_refuses_a_record_naming_a_users_file(proj: Path, guard: Guard, env: Env,
                                                   victim: str) -> None:
    (proj / victim).write_bytes(b"the user's own " + victim.encode())
    digest = "644:" + hashlib.sha256((proj / victim).read_bytes()).hexdigest()
    _record(proj, state="uncommitted", head_before=_git(proj, "rev-parse", "HEAD"),
            created=[victim], after={victim: digest})
    guard.start(proj / ".git")
    r = tc("update", "--undo", str(proj), cwd=proj.parent, env=env)
    guard.check()
    assert (proj / victim).read_bytes() == b"the user's own " + victim.encode()
    assert_clean_failure(r, 2, rf"\({re.escape(victim)} is not a file tc update .* wrote\); "
                               r"nothing was undone")


# ---- class: memory bounded --------------------------------------------------------------------

def test_update_dry_run_with_a_big_ignored_file_under_1g(tmp_path: Path) -> None:
    """A 700 MB model (git-ignored, sparse on disk) must not be read into memory, let alone
    twice: under RLIMIT_AS = 1 GiB the preview ends cleanly, listing only the project's files."""
    assert tc("new", "mine", "--provider", "Prov", "--category", "Cat", "--architecture", "Arch",
              "--template", "sklearn", "--defaults", cwd=tmp_path).rc == 0
    proj = tmp_path / "mine"
    env = _newer_scaffolds(tmp_path)
    big = proj / ".tc" / "train" / "model.onnx"
    big.parent.mkdir(parents=True)
    with big.open("wb") as fh:
        fh.truncate(700 * 1024 * 1024)
    r = tc("update", "--dry-run", str(proj), cwd=tmp_path, env=env, mem_limit=1 << 30, timeout=300)
    both = r.stdout + r.stderr
    assert r.rc == 0 and "Traceback" not in both, both[-1500:]
    assert "model.onnx" not in r.stdout and "NEWS.md" in r.stdout
    assert big.stat().st_size == 700 * 1024 * 1024


# ---- class: validate --zip: special and setuid members, a damaged member ----------------------

TOP = "train-container-publish"


def _zip_with(good: Path, dest: Path, name: str, mode: int, data: bytes = b"#!/bin/sh\n") -> Path:
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            out.writestr(info, src.read(info))
        member = zipfile.ZipInfo(f"{TOP}/Prov/Cat/Arch/docker/{name}")
        member.create_system = 3
        member.external_attr = mode << 16
        out.writestr(member, data)
    return dest


@pytest.mark.parametrize(("name", "mode", "kind"), [
    ("null", stat.S_IFCHR | 0o666, r"a special file \(device, FIFO or socket\)"),
    ("sda", stat.S_IFBLK | 0o660, r"a special file"),
    ("pipe", stat.S_IFIFO | 0o644, r"a special file"),
    ("run.sh", stat.S_IFREG | 0o4755, r"a file with the setuid/setgid bit"),
    ("tool", stat.S_IFREG | 0o2755, r"a file with the setuid/setgid bit"),
])
def test_validate_zip_refuses_special_and_setuid_members(good_zip: Path, tmp_path: Path,
                                                         guard: Guard, name: str, mode: int,
                                                         kind: str) -> None:
    z = _zip_with(good_zip, tmp_path / "bad.zip", name, mode)
    guard.start()
    r = tc("validate", "--zip", str(z), "--json", cwd=tmp_path)
    guard.check()
    assert_finding(r, r"zip\.unsafe-member", rf"member is {kind}", file_re=re.escape(name))


def test_validate_zip_with_a_damaged_member(good_zip: Path, tmp_path: Path, guard: Guard) -> None:
    """Deflate data flipped inside a member: zlib's error is a finding, not exit 70."""
    data = bytearray(good_zip.read_bytes())
    with zipfile.ZipFile(good_zip) as zf:
        info = max((i for i in zf.infolist() if i.compress_type == zipfile.ZIP_DEFLATED),
                   key=lambda i: i.compress_size)
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    for k in range(5, 15):
        data[start + k] ^= 0xFF
    z = tmp_path / "damaged.zip"
    z.write_bytes(bytes(data))
    guard.start()
    r = tc("validate", "--zip", str(z), "--json", cwd=tmp_path)
    guard.check()
    assert_finding(r, r"file\.unreadable", r"cannot read member", file_re=re.escape(info.filename))


# ---- class: .env secrets under plain names or as a bare AWS secret key -------------------------

AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYEXAMPLEKEY"


@pytest.mark.parametrize("line", [
    "DB_PASS=hunter2", "MYSQL_PWD=hunter2", "SMTP_PW=hunter2", "PASS=hunter2",
    f"S3_CONF={AWS_SECRET}", f"export AWS_S={AWS_SECRET}",
])
@pytest.mark.parametrize("no_validate", [False, True])
def test_env_secrets_are_never_packaged(proj: Path, guard: Guard, env: Env, tmp_path: Path,
                                        line: str, no_validate: bool) -> None:
    env_file = tdir(proj) / "docker" / ".env"
    env_file.write_text(env_file.read_text() + line + "\n")
    out = tmp_path / "out.zip"
    guard.start(out)
    r = tc("package", str(proj), "-o", out, *(["--no-validate"] if no_validate else []),
           cwd=tmp_path, env=env)
    guard.check()
    assert not out.exists()
    assert "hunter2" not in r.stdout + r.stderr and AWS_SECRET not in r.stdout + r.stderr
    assert_clean_failure(r, 1, r"validate found|refused to package|secret")


# ---- class: the scaffold store is tc's own repository -----------------------------------------

@pytest.mark.parametrize("history", ["commits", "empty"])
@pytest.mark.parametrize("command", ["new", "update"])
def test_a_foreign_repository_as_the_scaffold_store(proj: Path, tmp_path: Path, guard: Guard,
                                                    history: str, command: str) -> None:
    home = tmp_path / "other-home"
    store = home / "scaffold-store"
    store.mkdir(parents=True)
    _git(store, "init", "-q", "-b", "main")
    if history == "commits":
        (store / "thesis.tex").write_text("my thesis\n")
        _git(store, "add", "thesis.tex")
        _git(store, "-c", "user.name=u", "-c", "user.email=u@x", "commit", "-qm", "my work")
    env = env_for(tmp_path, TC_HOME=str(home))
    guard.start(tmp_path / "new-proj", home / "scaffold-store.lock")  # the lock is tc's
    if command == "new":
        r = tc("new", "new-proj", "--template", "sklearn", "--provider", "Prov", "--category",
               "Cat", "--architecture", "Arch", "--defaults", cwd=tmp_path, env=env)
    else:
        r = tc("update", str(proj), cwd=tmp_path, env=env)
    guard.check()
    assert not (tmp_path / "new-proj").exists()
    assert_clean_failure(r, 2, r"scaffold-store: a git repository tc did not create; nothing was "
                               r"committed to it")


# ---- class: tc base-image --wheelhouse is checked, never silently ignored ----------------------

@pytest.mark.parametrize(("kind", "message"), [
    ("missing", r"no such folder"), ("file", r"not a folder"), ("empty", r"no \.whl files in it"),
])
def test_base_image_with_an_unusable_wheelhouse(tmp_path: Path, guard: Guard, kind: str,
                                                message: str) -> None:
    house = tmp_path / "wheels"
    if kind == "file":
        house.write_text("not a folder")
    elif kind == "empty":
        house.mkdir()
        (house / "README.txt").write_text("wheels go here")
    guard.start()
    r = tc("base-image", "--flavor", "sklearn", "--wheelhouse", house, cwd=tmp_path,
           env=_no_docker(tmp_path))
    guard.check()
    assert_clean_failure(r, 2, rf"^error: --wheelhouse .*wheels: {message}")


# ---- class: unusable output places are exit 2, never exit 70 -----------------------------------

@pytest.mark.parametrize(("where", "message"), [
    ("afile", r"--report .*afile: is a file, not a folder"),
    ("afile/sub", r"afile/sub: cannot write the report: Not a directory"),
    ("/proc/tc-report", r"/proc/tc-report: cannot write the report"),
])
def test_dataset_inspect_report_onto_an_unusable_place(tmp_path: Path, guard: Guard, where: str,
                                                        message: str) -> None:
    r = tc("demo-data", tmp_path / "minio", "--task", "detection", "--images", "2", cwd=tmp_path)
    assert r.rc == 0, r.stderr
    (tmp_path / "afile").write_text("mine")
    guard.start()
    out = where if where.startswith("/") else str(tmp_path / where)
    r = tc("dataset", "inspect", tmp_path / "minio" / "datasets" / "1", "--report", out,
           cwd=tmp_path, timeout=120)
    guard.check()
    assert_clean_failure(r, 2, message)


# ---- class: special files in a project never hang tc ------------------------------------------

@pytest.mark.parametrize("name", ["pipe", "util.py"])
@pytest.mark.parametrize("command", ["package", "validate"])
def test_a_fifo_in_the_template(proj: Path, tmp_path: Path, guard: Guard, env: Env, name: str,
                                command: str) -> None:
    """Reading a FIFO waits for a writer for ever: tc refuses it (a finding), without opening."""
    os.mkfifo(tdir(proj) / "docker" / name)
    out = tmp_path / "out.zip"
    guard.start(out)
    args = ["-o", str(out)] if command == "package" else []
    r = tc(command, str(proj), *args, cwd=tmp_path, env=env, timeout=40)
    guard.check()
    assert not out.exists()
    assert "not a regular file (a" in r.stdout.replace("\n", " ") or "FIFO" in r.stdout
    assert_clean_failure(r, 1, r"validate found 1 error|validation failed: 1 error")


def test_validate_zip_with_a_file_and_a_folder_of_one_name(good_zip: Path, tmp_path: Path,
                                                          guard: Guard) -> None:
    z = tmp_path / "clash.zip"
    with zipfile.ZipFile(good_zip) as src, zipfile.ZipFile(z, "w") as out:
        for info in src.infolist():
            out.writestr(info, src.read(info))
        out.writestr(f"{TOP}/Prov/Cat/Arch/docker/a", b"x")
        out.writestr(f"{TOP}/Prov/Cat/Arch/docker/a/b", b"y")
    guard.start()
    r = tc("validate", "--zip", str(z), "--json", cwd=tmp_path)
    guard.check()
    assert_finding(r, r"zip\.unsafe-name", r"cannot extract member", file_re=r"docker/a/b$")


# ---- class: dev-run option values checked before any Docker work -------------------------------

@pytest.mark.parametrize(("args", "message"), [
    (["--demo", "--dataset-id", "99999999999"], r"--dataset-id 99999999999: must be at most"),
    (["--demo", "--demo-images", "99999999999"], r"--demo-images 99999999999: out of range"),
    (["--dataset", "afile"], r"--dataset .*afile: not a folder"),
    (["--dataset", "nowhere"], r"--dataset .*nowhere: no such folder"),
])
def test_dev_run_option_values_before_docker(proj: Path, tmp_path: Path, guard: Guard,
                                             args: list[str], message: str) -> None:
    (tmp_path / "afile").write_text("not a dataset")
    args = [str(tmp_path / a) if a in ("afile", "nowhere") else a for a in args]
    guard.start()
    r = tc("dev-run", str(proj), *args, cwd=tmp_path, env=_no_docker(tmp_path))
    guard.check()
    assert_clean_failure(r, 2, message)
