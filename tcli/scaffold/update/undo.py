"""``tc update --undo``: put the tree back exactly as it was before the last ``tc update``.

What is restored, from the record (:mod:`tcli.scaffold.update.record`):

- a committed update: ``git reset --hard`` to the commit before it;
- an update left uncommitted (conflicts, or a failure): tracked files back to that commit, and
  the files the update created deleted (only those: a file tc did not create is never deleted);
- then a ``--force`` snapshot is unwound (``git reset --mixed`` past it, the staged part read
  back into the index), so the local changes are uncommitted changes again and files that
  were untracked are untracked again.

It refuses, changing nothing, when the record is missing or unreadable, when HEAD is not where
the update left it, and when the tree holds changes made after the update.

The record is a file anyone can write, so it is checked against the repository before it is
acted on: the update commit must be a tc update commit (its ``Tc-Update-From`` trailer names
the recorded base, which is its parent), a ``--force`` snapshot must be tc's snapshot commit
on the recorded HEAD, and every file it says the update created must be one the scaffold
version it went to renders, with that content (:mod:`tcli.scaffold.update.rendered`). A
record that fails is refused (exit 2), nothing changed: it cannot reset past the user's
commits or delete the user's files.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

from tcli.errors import InputError
from tcli.safety.confine import is_inside
from tcli.scaffold.store import git, inside_git
from tcli.scaffold.update import record
from tcli.scaffold.update.record import UpdateRecord


@dataclass
class UndoResult:
    path: Path
    state: str
    from_version: str
    to_version: str
    #: HEAD after the undo (the user's HEAD before the update)
    head: str | None
    #: a ``--force`` snapshot was unwound: the local changes are uncommitted again
    unwound_snapshot: bool = False
    #: files the update created that were deleted
    removed: list[str] = field(default_factory=list)
    #: untracked files left in place after an interrupted update (tc cannot tell whose they are)
    kept: list[str] = field(default_factory=list)


def undo(path: Path) -> UndoResult:
    """Undo the last ``tc update`` of the project at ``path`` (see the module docstring)."""
    root = path.resolve()
    if not root.is_dir() or not inside_git(root):
        raise InputError(f"{root}: not a git repository; nothing to undo",
                         "run tc update --undo in the project tc update changed")
    rec = record.load(root)
    if rec is None:
        raise InputError(f"{root}: nothing to undo: no tc update is recorded",
                         "tc update --undo undoes the last tc update run in this project")
    result = UndoResult(root, rec.state, rec.from_version, rec.to_version, rec.head_before)
    if rec.state == "noop":
        record.remove(root)
        return result
    _check_head(root, rec)
    _check_commits(root, rec)
    _check_tree(root, rec)
    _check_created(root, rec)
    base = rec.base
    if base is not None:
        git(root, "reset", "-q", "--hard", base)
    for rel in rec.created:
        target = root / rel
        if not is_inside(target.parent, root):  # a folder on the way became a symlink out
            continue
        if record.digest(target) is not None and rec.after.get(rel) == record.digest(target):
            target.unlink()
            result.removed.append(rel)
            _prune_empty_parents(root, target.parent)
    if rec.state == "started":
        result.kept = sorted(rel for rel, code in record.changed_paths(root).items() if code == "??")
    if rec.snapshot:
        _unwind_snapshot(root, rec)
        result.unwound_snapshot = True
    record.remove(root)
    return result


def _short(sha: str | None) -> str:
    return sha[:10] if sha else "(no commit)"


def _check_head(root: Path, rec: UpdateRecord) -> None:
    expected = rec.update_commit if rec.state == "committed" else rec.base
    now = record.head(root)
    if now == expected:
        return
    on_top = expected is not None and now is not None and git(
        root, "merge-base", "--is-ancestor", expected, now, check=False).returncode == 0
    if rec.state == "committed":
        sha = _short(rec.update_commit)
        if on_top:
            raise InputError(f"{root}: commits were made after the tc update {sha}; nothing was undone",
                             f"undo the update alone with: git revert {sha}")
        raise InputError(f"{root}: HEAD ({_short(now)}) is no longer the tc update commit {sha}; "
                         "nothing was undone",
                         "check out the branch that holds it, or run git revert on it there")
    raise InputError(f"{root}: HEAD moved since the last tc update (it was {_short(expected)}, "
                     f"now {_short(now)}); nothing was undone",
                     "if you committed the update, undo that commit with: git revert <commit>")


def _false(root: Path, why: str) -> InputError:
    path = record.record_path(root)
    return InputError(f"{path}: not the record of a tc update of this repository ({why}); "
                      "nothing was undone", f"delete it (rm {path}); 'git log' shows what tc committed")


def _commit_of(root: Path, sha: str, what: str) -> tuple[list[str], str]:
    """(parents, message) of commit ``sha``; the record is false when there is no such commit."""
    done = git(root, "log", "-1", "--format=%P%x00%B", sha, "--", check=False)
    if done.returncode != 0 or "\0" not in done.stdout:
        raise _false(root, f"{what} {_short(sha)} is not a commit here")
    parents, message = done.stdout.split("\0", 1)
    return parents.split(), message


def _check_commits(root: Path, rec: UpdateRecord) -> None:
    """The recorded commits are tc's own, chained as the record says (see the module doc)."""
    from tcli.scaffold.update.apply import SNAPSHOT_MESSAGE, TRAILER

    if rec.head_before is not None:
        _commit_of(root, rec.head_before, "head_before")
    if rec.snapshot is not None:
        parents, message = _commit_of(root, rec.snapshot, "snapshot")
        if message.strip() != SNAPSHOT_MESSAGE:
            raise _false(root, f"{_short(rec.snapshot)} is not a tc update snapshot commit")
        if parents != ([rec.head_before] if rec.head_before else []):
            raise _false(root, f"the snapshot {_short(rec.snapshot)} does not follow "
                               f"{_short(rec.head_before)}")
    if rec.index_tree is not None and git(root, "cat-file", "-t", rec.index_tree,
                                          check=False).stdout.strip() != "tree":
        raise _false(root, f"index_tree {_short(rec.index_tree)} is not a tree here")
    if rec.update_commit is not None:
        parents, message = _commit_of(root, rec.update_commit, "update_commit")
        trailer = f"{TRAILER}: {rec.base or 'none (first commit)'}"
        if trailer not in message.splitlines():
            raise _false(root, f"{_short(rec.update_commit)} is not a tc update commit on "
                               f"{_short(rec.base)}")
        if parents != ([rec.base] if rec.base else []):
            raise _false(root, f"the update commit {_short(rec.update_commit)} does not follow "
                               f"{_short(rec.base)}")


def _check_created(root: Path, rec: UpdateRecord) -> None:
    """Every file the record says the update created is one the scaffold version it went to
    renders, with that content; otherwise the record is false (nothing is deleted)."""
    present = [rel for rel in rec.created if record.digest(root / rel) is not None]
    if not present:
        return
    import yaml

    from tcli.contract import ANSWERS_FILE
    from tcli.scaffold.store import sync_store
    from tcli.scaffold.update import rendered
    from tcli.scaffold.update.apply import _load_answers

    answers = _load_answers(root / ANSWERS_FILE, yaml)
    digests = rendered.render_digests(sync_store().path, rec.to_version, answers)
    if digests is None:
        raise _false(root, f"scaffold version {rec.to_version!r} is not in the local scaffold store")
    ours = set(rendered.written_by_update(root, set(present), digests))
    others = [rel for rel in present if rel not in ours]
    if others:
        raise _false(root, f"{others[0]} is not a file tc update {rec.to_version} wrote")


def _check_tree(root: Path, rec: UpdateRecord) -> None:
    """Refuse when the working tree holds changes made after the update."""
    if rec.state == "started":  # killed mid-update: what is in the tree cannot be told apart
        return
    changed = record.changed_paths(root)
    later = [rel for rel in changed
             if rec.state == "committed" or rel not in rec.after
             or record.digest(root / rel) != rec.after[rel]]
    later += [rel for rel in rec.created if rel not in changed
              and record.digest(root / rel) not in (None, rec.after.get(rel))]
    if later:
        shown = ", ".join(sorted(later)[:5]) + (f" (+{len(later) - 5} more)" if len(later) > 5 else "")
        raise InputError(f"{root}: changes made after the tc update: {shown}; nothing was undone",
                         "stash them (git stash -u) or discard them (git reset --hard), "
                         "then run tc update --undo again")


def _unwind_snapshot(root: Path, rec: UpdateRecord) -> None:
    """Turn the ``--force`` snapshot commit back into uncommitted changes (same content)."""
    if rec.head_before is None:  # the snapshot was the first commit: back to no commit at all
        git(root, "update-ref", "-d", "HEAD")
        git(root, "read-tree", "--empty")
    else:
        git(root, "reset", "-q", "--mixed", rec.head_before)
    if rec.index_tree:
        git(root, "read-tree", rec.index_tree)


def _prune_empty_parents(root: Path, folder: Path) -> None:
    """Remove folders emptied by deleting created files, up to (not including) the root."""
    while folder != root and folder.is_relative_to(root):
        with contextlib.suppress(OSError):
            folder.rmdir()
        if folder.exists():
            return
        folder = folder.parent
