"""tc update: Copier's three-way merge of a newer scaffold version into a project, committed as
one commit; its --dry-run (every file's state) and its --undo (the tree back, byte for byte)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tcli.cli import app
from tests.conftest import SCAFFOLDS

runner = CliRunner()
ENV_REL = "templates/P/C/A/docker/.env"
ENV_SRC = "project/templates/{{provider}}/{{category}}/{{architecture}}/docker/.env"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout


def tree(root: Path, *, with_git: bool = False) -> dict[str, tuple[int, str]]:
    """Every file and folder under ``root`` (outside .git unless ``with_git``): mode and sha256."""
    out: dict[str, tuple[int, str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if not with_git:
            dirnames[:] = [d for d in dirnames if not (Path(dirpath) == root and d == ".git")]
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            data = os.readlink(p).encode() if p.is_symlink() else b"" if p.is_dir() else p.read_bytes()
            out[str(p.relative_to(root))] = (st.st_mode, hashlib.sha256(data).hexdigest())
    return out


def head_of(project: Path) -> str:
    return git(project, "rev-parse", "HEAD").strip()


def status(project: Path) -> str:
    return git(project, "status", "--porcelain", "--untracked-files=all")


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1))


def scaffold_changes(scaffolds: Path) -> None:
    """A new scaffold version: README and .dockerignore gain a line, .env changes a line, a
    file is added (NEWS.md) and one removed (common/mount-s3.sh)."""
    readme = scaffolds / "project" / "README.md.jinja"
    readme.write_text(readme.read_text() + "\nNew scaffold section.\n")
    ignore = scaffolds / "project" / ".dockerignore"
    ignore.write_text(ignore.read_text() + "scratch/\n")
    edit(scaffolds / ENV_SRC, "PYTHONUNBUFFERED=1", "PYTHONUNBUFFERED=0")
    (scaffolds / "project" / "NEWS.md").write_text("# News\n")
    (scaffolds / "project" / "common" / "mount-s3.sh").unlink()


@pytest.fixture()
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A private copy of the scaffolds (TC_SCAFFOLDS_DIR) and a project rendered from it."""
    scaffolds = tmp_path / "scaffolds"
    shutil.copytree(SCAFFOLDS, scaffolds, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setenv("TC_SCAFFOLDS_DIR", str(scaffolds))
    monkeypatch.setenv("TC_HOME", str(tmp_path / "home"))
    project = tmp_path / "proj"
    result = runner.invoke(app, ["new", str(project), "--template", "sklearn", "--provider", "P",
                                 "--category", "C", "--architecture", "A"])
    assert result.exit_code == 0, result.output
    return scaffolds, project


def user_edits(project: Path, *, conflict: bool) -> None:
    """The user edits README (another line than the scaffold) and train.py (the scaffold does not
    touch it); with ``conflict`` also the line of .env the scaffold changes."""
    edit(project / "README.md", "A train container for", "A train container (ours) for")
    train = project / "templates/P/C/A/docker/train.py"
    train.write_text(train.read_text() + "\n# user tuning\n")
    if conflict:
        edit(project / ENV_REL, "PYTHONUNBUFFERED=1", "PYTHONUNBUFFERED=yes")
    git(project, "commit", "-qam", "user edits")


# ---- the update: one commit on top of the user's work ----------------------------------------

def test_update_merges_scaffold_change_and_keeps_user_edits(setup: tuple[Path, Path]) -> None:
    scaffolds, project = setup
    scaffold_changes(scaffolds)
    user_edits(project, conflict=False)
    user_head = head_of(project)
    commits = int(git(project, "rev-list", "--count", "HEAD"))

    result = runner.invoke(app, ["update", str(project)])
    assert result.exit_code == 0, result.output
    update_commit = head_of(project)
    assert f"Committed the update as {update_commit[:10]} " in result.output
    assert result.output.rstrip().endswith("Review with 'git show'; undo with: tc update --undo")
    assert int(git(project, "rev-list", "--count", "HEAD")) == commits + 1
    assert git(project, "rev-parse", "HEAD^").strip() == user_head
    assert status(project) == ""
    message = git(project, "log", "-1", "--format=%B")
    assert message.splitlines()[0] == "tc update: scaffolds 0.1.0.post1 -> 0.1.0.post2"
    assert f"Tc-Update-From: {user_head}" in message
    readme = (project / "README.md").read_text()
    assert "New scaffold section." in readme and "A train container (ours) for" in readme
    assert (project / ".dockerignore").read_text().endswith("scratch/\n")
    assert (project / ENV_REL).read_text().count("PYTHONUNBUFFERED=0") == 1
    assert (project / "templates/P/C/A/docker/train.py").read_text().endswith("# user tuning\n")
    assert (project / "NEWS.md").is_file() and not (project / "common/mount-s3.sh").exists()
    assert "_commit: 0.1.0.post2" in (project / ".copier-answers.yml").read_text()
    assert (project / ".git" / "tc-update.json").is_file()

    again = runner.invoke(app, ["update", str(project)])
    assert again.exit_code == 0, again.output
    assert again.output.startswith("Already up to date")
    assert head_of(project) == update_commit


def test_update_reports_conflicts_and_leaves_them_uncommitted(setup: tuple[Path, Path]) -> None:
    scaffolds, project = setup
    scaffold_changes(scaffolds)
    user_edits(project, conflict=True)
    user_head = head_of(project)

    result = runner.invoke(app, ["update", str(project)])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: 1 file(s) with merge conflicts: {ENV_REL}",
        "hint: resolve the <<<<<<< / >>>>>>> markers, then git add and commit; "
        "or go back with: tc update --undo",
    ]
    text = (project / ENV_REL).read_text()
    assert "<<<<<<<" in text and "PYTHONUNBUFFERED=yes" in text and "PYTHONUNBUFFERED=0" in text
    assert head_of(project) == user_head  # nothing committed
    assert "NEWS.md" in status(project)


def test_update_refuses_dirty_tree_unless_force(setup: tuple[Path, Path]) -> None:
    scaffolds, project = setup
    readme_src = scaffolds / "project" / "README.md.jinja"
    readme_src.write_text(readme_src.read_text() + "\nMore.\n")
    train = project / "templates/P/C/A/docker/train.py"
    train.write_text(train.read_text() + "\n# uncommitted\n")
    user_head = head_of(project)

    refused = runner.invoke(app, ["update", str(project)])
    assert refused.exit_code == 2
    assert refused.stderr.splitlines()[0] == f"error: {project}: uncommitted changes; nothing was updated"
    assert "More." not in (project / "README.md").read_text()

    forced = runner.invoke(app, ["update", str(project), "--force"])
    assert forced.exit_code == 0, forced.output
    assert "More." in (project / "README.md").read_text()
    assert train.read_text().endswith("# uncommitted\n")
    assert git(project, "log", "-3", "--format=%s").splitlines() == [
        "tc update: scaffolds 0.1.0.post1 -> 0.1.0.post2",
        "tc update: snapshot of local changes",
        git(project, "log", "-1", "--format=%s", user_head).strip(),
    ]
    assert status(project) == ""


def test_update_of_a_current_project_changes_nothing(setup: tuple[Path, Path]) -> None:
    _, project = setup
    user_head, before = head_of(project), tree(project)
    result = runner.invoke(app, ["update", str(project)])
    assert result.exit_code == 0, result.output
    assert result.output == "Already up to date (scaffolds 0.1.0.post1).\n"
    assert head_of(project) == user_head and tree(project) == before

    undone = runner.invoke(app, ["update", "--undo", str(project)])
    assert undone.exit_code == 0, undone.output
    assert undone.output == ("The last tc update changed nothing (already up to date at "
                             "0.1.0.post1); nothing to undo.\n")
    assert head_of(project) == user_head and tree(project) == before


def test_update_outside_a_project(tmp_path: Path) -> None:
    result = runner.invoke(app, ["update", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == (
        f"error: {tmp_path.resolve()}/.copier-answers.yml: missing; this project was not made by 'tc new'"
    )


# ---- the dry run -----------------------------------------------------------------------------

def test_dry_run_tells_every_state_and_writes_nothing(setup: tuple[Path, Path]) -> None:
    scaffolds, project = setup
    scaffold_changes(scaffolds)
    user_edits(project, conflict=True)
    head = head_of(project)
    before = tree(project, with_git=True)

    result = runner.invoke(app, ["update", "--dry-run", str(project)])
    assert result.exit_code == 0, result.output
    lines = [ln.split() for ln in result.output.splitlines() if ln.startswith("  ")]
    states = {rel: state for state, rel in lines}
    assert states[".dockerignore"] == "updated"   # the user never edited it
    assert states["README.md"] == "merged"        # both changed it, in different places
    assert states[ENV_REL] == "conflicting"       # both changed the same line
    assert states["templates/P/C/A/docker/train.py"] == "unchanged"  # only the user changed it
    assert states["NEWS.md"] == "added"
    assert states["common/mount-s3.sh"] == "removed"
    assert set(states.values()) <= {"unchanged", "updated", "merged", "conflicting", "added", "removed"}
    counts = {s: list(states.values()).count(s) for s in
              ("unchanged", "updated", "merged", "conflicting", "added", "removed")}
    assert result.output.splitlines()[-1] == (
        "dry run: scaffolds 0.1.0.post1 -> 0.1.0.post2: "
        + ", ".join(f"{n} {s}" for s, n in counts.items()) + "; nothing was written"
    )
    assert tree(project, with_git=True) == before and head_of(project) == head


def test_dry_run_of_a_dirty_tree_writes_nothing(setup: tuple[Path, Path]) -> None:
    scaffolds, project = setup
    scaffold_changes(scaffolds)
    (project / "notes.txt").write_text("mine\n")
    edit(project / "README.md", "A train container for", "A train container (ours) for")
    before = tree(project, with_git=True)
    result = runner.invoke(app, ["update", "--dry-run", str(project)])
    assert result.exit_code == 0, result.output
    states = {rel: state for state, rel in (ln.split() for ln in result.output.splitlines()
                                            if ln.startswith("  "))}
    assert states["README.md"] == "merged" and states["notes.txt"] == "unchanged"
    assert tree(project, with_git=True) == before


# ---- undo ------------------------------------------------------------------------------------

def undo(project: Path) -> object:
    return runner.invoke(app, ["update", "--undo", str(project)])


def test_undo_of_a_committed_update(setup: tuple[Path, Path]) -> None:
    scaffolds, project = setup
    scaffold_changes(scaffolds)
    user_edits(project, conflict=False)
    user_head, before = head_of(project), tree(project)
    assert runner.invoke(app, ["update", str(project)]).exit_code == 0
    assert tree(project) != before

    result = runner.invoke(app, ["update", "--undo", str(project)])
    assert result.exit_code == 0, result.output
    assert result.output == (f"Undid the tc update 0.1.0.post1 -> 0.1.0.post2: HEAD is back at "
                             f"{user_head[:10]}.\n")
    assert tree(project) == before and head_of(project) == user_head and status(project) == ""
    assert not (project / ".git" / "tc-update.json").exists()

    again = runner.invoke(app, ["update", "--undo", str(project)])
    assert again.exit_code == 2
    assert again.stderr.splitlines() == [
        f"error: {project}: nothing to undo: no tc update is recorded",
        "hint: tc update --undo undoes the last tc update run in this project",
    ]
    # the update can be made again after the undo
    redo = runner.invoke(app, ["update", str(project)])
    assert redo.exit_code == 0, redo.output


def test_undo_of_a_forced_update_brings_back_the_uncommitted_changes(setup: tuple[Path, Path]) -> None:
    scaffolds, project = setup
    scaffold_changes(scaffolds)
    train = project / "templates/P/C/A/docker/train.py"
    train.write_text(train.read_text() + "\n# not committed\n")      # modified, unstaged
    edit(project / "README.md", "A train container for", "A train container (ours) for")
    git(project, "add", "README.md")                                  # modified, staged
    (project / "notes.txt").write_text("untracked notes\n")           # untracked
    (project / "train").mkdir()
    (project / "train" / "model.onnx").write_bytes(b"\0weights")      # ignored
    user_head, before, st = head_of(project), tree(project), status(project)
    staged = git(project, "diff", "--cached")

    forced = runner.invoke(app, ["update", "--force", str(project)])
    assert forced.exit_code == 0, forced.output
    assert int(git(project, "rev-list", "--count", f"{user_head}..HEAD")) == 2  # snapshot + update

    result = undo(project)
    assert result.exit_code == 0, result.output
    assert "Your local changes are uncommitted changes again" in result.output
    assert tree(project) == before and head_of(project) == user_head
    assert status(project) == st and "?? notes.txt" in st
    assert git(project, "diff", "--cached") == staged  # what was staged is staged again


def test_undo_of_an_update_with_conflicts(setup: tuple[Path, Path]) -> None:
    scaffolds, project = setup
    scaffold_changes(scaffolds)
    user_edits(project, conflict=True)
    (project / "train").mkdir()
    (project / "train" / "keep.pt").write_bytes(b"mine")  # ignored, not tc's: never deleted
    user_head, before = head_of(project), tree(project)
    assert runner.invoke(app, ["update", str(project)]).exit_code == 1
    assert (project / "NEWS.md").exists()  # created by the update, untracked

    result = undo(project)
    assert result.exit_code == 0, result.output
    assert "Removed 1 file(s) the update created." in result.output
    assert tree(project) == before and head_of(project) == user_head and status(project) == ""


def test_undo_of_a_forced_update_with_conflicts(setup: tuple[Path, Path]) -> None:
    scaffolds, project = setup
    scaffold_changes(scaffolds)
    user_edits(project, conflict=True)
    (project / "notes.txt").write_text("untracked notes\n")
    user_head, before, st = head_of(project), tree(project), status(project)
    assert runner.invoke(app, ["update", "--force", str(project)]).exit_code == 1

    result = undo(project)
    assert result.exit_code == 0, result.output
    assert tree(project) == before and head_of(project) == user_head and status(project) == st


def test_undo_refuses_when_commits_follow_the_update(setup: tuple[Path, Path]) -> None:
    scaffolds, project = setup
    scaffold_changes(scaffolds)
    assert runner.invoke(app, ["update", str(project)]).exit_code == 0
    update_commit = head_of(project)
    (project / "mine.txt").write_text("later work\n")
    git(project, "add", "mine.txt")
    git(project, "commit", "-qm", "later work")
    before = tree(project, with_git=True)

    result = undo(project)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: {project}: commits were made after the tc update {update_commit[:10]}; "
        "nothing was undone",
        f"hint: undo the update alone with: git revert {update_commit[:10]}",
    ]
    assert tree(project, with_git=True) == before


def test_undo_refuses_changes_made_after_the_update(setup: tuple[Path, Path]) -> None:
    scaffolds, project = setup
    scaffold_changes(scaffolds)
    assert runner.invoke(app, ["update", str(project)]).exit_code == 0
    edit(project / "README.md", "New scaffold section.", "Edited after the update.")
    (project / "new.txt").write_text("x\n")
    before = tree(project, with_git=True)

    result = undo(project)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: {project}: changes made after the tc update: README.md, new.txt; nothing was undone",
        "hint: stash them (git stash -u) or discard them (git reset --hard), "
        "then run tc update --undo again",
    ]
    assert tree(project, with_git=True) == before

    git(project, "stash", "-u")
    assert undo(project).exit_code == 0


def test_undo_refuses_edits_of_a_conflicted_file(setup: tuple[Path, Path]) -> None:
    scaffolds, project = setup
    scaffold_changes(scaffolds)
    user_edits(project, conflict=True)
    assert runner.invoke(app, ["update", str(project)]).exit_code == 1
    (project / ENV_REL).write_text("PYTHONUNBUFFERED=1\n")  # resolving by hand
    before = tree(project, with_git=True)

    result = undo(project)
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == (
        f"error: {project}: changes made after the tc update: {ENV_REL}; nothing was undone")
    assert tree(project, with_git=True) == before


def test_undo_refuses_when_the_conflicts_were_committed(setup: tuple[Path, Path]) -> None:
    scaffolds, project = setup
    scaffold_changes(scaffolds)
    user_edits(project, conflict=True)
    user_head = head_of(project)
    assert runner.invoke(app, ["update", str(project)]).exit_code == 1
    git(project, "add", "-A")
    git(project, "commit", "-qm", "resolved")

    result = undo(project)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: {project}: HEAD moved since the last tc update (it was {user_head[:10]}, "
        f"now {head_of(project)[:10]}); nothing was undone",
        "hint: if you committed the update, undo that commit with: git revert <commit>",
    ]


@pytest.mark.parametrize("flag", ["--dry-run", "--force"])
def test_undo_excludes_dry_run_and_force(setup: tuple[Path, Path], flag: str) -> None:
    _, project = setup
    result = runner.invoke(app, ["update", "--undo", flag, str(project)])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [f"error: --undo and {flag} exclude each other",
                                          "hint: pass one of them"]


def _interrupted_merge(project: Path) -> object:
    """A Copier merge that changes a tracked file, creates one of the new scaffold version's
    files (NEWS.md, as scaffold_changes renders it), then is interrupted (Ctrl-C)."""
    def merge(root: Path, tag: str, *, defaults: bool = True, store: Path | None = None) -> None:
        (root / "README.md").write_text("half-written\n")
        (root / "NEWS.md").write_text("# News\n")
        raise KeyboardInterrupt
    return merge


def test_undo_after_an_interrupted_update(setup: tuple[Path, Path],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from tcli.scaffold.update import apply

    scaffolds, project = setup
    scaffold_changes(scaffolds)
    (project / "notes.txt").write_text("untracked notes\n")
    user_head, before, st = head_of(project), tree(project), status(project)
    real_merge = apply.merge
    monkeypatch.setattr(apply, "merge", _interrupted_merge(project))
    result = runner.invoke(app, ["update", "--force", str(project)])
    assert result.exit_code == 130
    monkeypatch.setattr(apply, "merge", real_merge)  # TC_HOME stays (the store is there)

    undone = undo(project)
    assert undone.exit_code == 0, undone.output
    assert "Removed 1 file(s) the update created." in undone.output
    assert tree(project) == before and head_of(project) == user_head and status(project) == st


def test_undo_after_a_killed_update_keeps_untracked_files(setup: tuple[Path, Path],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Killed before tc could record what the update left: tracked files are restored, untracked
    ones are kept (tc cannot tell whose they are) and listed."""
    from tcli.scaffold.update import apply

    scaffolds, project = setup
    scaffold_changes(scaffolds)
    user_head = head_of(project)
    readme = (project / "README.md").read_bytes()
    real_merge, real_left = apply.merge, apply._left_in_tree
    monkeypatch.setattr(apply, "merge", _interrupted_merge(project))

    def killed(*args: object) -> None:
        raise OSError("killed before the record was finished")
    monkeypatch.setattr(apply, "_left_in_tree", killed)
    assert runner.invoke(app, ["update", str(project)]).exit_code == 130
    assert '"state": "started"' in (project / ".git" / "tc-update.json").read_text()
    monkeypatch.setattr(apply, "merge", real_merge)  # TC_HOME stays (the store is there)
    monkeypatch.setattr(apply, "_left_in_tree", real_left)

    undone = undo(project)
    assert undone.exit_code == 0, undone.output
    assert "so they were kept: NEWS.md" in undone.output
    assert (project / "README.md").read_bytes() == readme and head_of(project) == user_head
    assert (project / "NEWS.md").exists()


def test_dry_run_outside_a_project_names_the_folder(tmp_path: Path) -> None:
    result = runner.invoke(app, ["update", "--dry-run", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == (
        f"error: {tmp_path.resolve()}/.copier-answers.yml: missing; this project was not made by 'tc new'"
    )


# ---- the scaffold store: always the local one -------------------------------------------------

def test_update_under_another_tc_home_reads_the_local_store(
        setup: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A project made under TC_HOME A, updated under TC_HOME B whose store holds the project's
    version and a newer one: Copier reads both from B (it used to read A's path from the
    answers and die on B's newer tag with an internal error)."""
    scaffolds, project = setup
    monkeypatch.setenv("TC_HOME", str(tmp_path / "home-b"))
    other = runner.invoke(app, ["new", str(tmp_path / "other"), "--template", "sklearn",
                                "--provider", "P", "--category", "C", "--architecture", "A"])
    assert other.exit_code == 0, other.output  # B's store now holds the project's version
    scaffold_changes(scaffolds)
    result = runner.invoke(app, ["update", str(project)])
    assert result.exit_code == 0, result.output
    assert "Committed the update as " in result.output
    answers = (project / ".copier-answers.yml").read_text()
    assert f"_src_path: {tmp_path / 'home-b'}" in answers
    assert "New scaffold section." in (project / "README.md").read_text()


def test_update_never_fetches_the_answers_src_path(setup: tuple[Path, Path]) -> None:
    """Someone else's project whose answers name a remote repository: tc update reads the
    local store only (a server on 127.0.0.1 standing in for the remote gets no request)."""
    import http.server
    import threading

    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        scaffolds, project = setup
        answers = project / ".copier-answers.yml"
        text = answers.read_text()
        start = text.index("_src_path: ")
        end = text.index("\n", start)
        remote = f"http://127.0.0.1:{server.server_address[1]}/evil.git"
        answers.write_text(text[:start] + f"_src_path: {remote}" + text[end:])
        git(project, "commit", "-qam", "answers from elsewhere")
        scaffold_changes(scaffolds)
        for args in (["update", "--dry-run", str(project)], ["update", str(project)]):
            result = runner.invoke(app, args)
            assert result.exit_code == 0, result.output
        assert hits == []
        assert remote not in (project / ".copier-answers.yml").read_text()
    finally:
        server.shutdown()
