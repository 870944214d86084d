"""The record ``tc update --undo`` reads, and the git views of the tree it compares.

Every ``tc update`` that changes a project writes ``<git dir>/tc-update.json`` (atomically, with
:mod:`tcli.safety.atomic`): where HEAD was, the ``--force`` snapshot commit, the update commit,
the files the update created and a fingerprint of what it left in the working tree. The file
lives inside ``.git``, so it is never part of the project, and a clone does not carry it.

A record is untrusted input on the way back in (it is a file on disk): it is read with
:mod:`tcli.safety.jsonload` and checked field by field; a path that is absolute, holds ``..`` or
points into ``.git`` makes the whole record invalid, so undo never deletes outside the project.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from tcli.errors import InputError
from tcli.safety import atomic, jsonload
from tcli.safety.digest import sha256_file
from tcli.scaffold.store import git

RECORD_NAME = "tc-update.json"
FORMAT = 1
#: started: written before Copier runs (only a killed tc leaves it); uncommitted: the update left
#: conflicts (or failed) in the working tree; committed: the update is one commit; noop: the
#: project was already up to date.
STATES = ("started", "uncommitted", "committed", "noop")
_SHA = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")
_FIX = "delete it (tc cannot undo that update then; 'git log' shows what tc committed)"


@dataclass
class UpdateRecord:
    """What one ``tc update`` did, enough to put the tree back as it was."""

    state: str
    from_version: str
    to_version: str
    #: HEAD before tc update ran (None: the repository had no commit yet)
    head_before: str | None
    #: the commit of the user's uncommitted changes made by ``--force``, or None
    snapshot: str | None = None
    #: the tree of the index before the snapshot (what was staged), or None
    index_tree: str | None = None
    #: the update's own commit (state ``committed``)
    update_commit: str | None = None
    #: files the update created that undo deletes itself (git's reset does not)
    created: list[str] = field(default_factory=list)
    #: every path the update left changed in the working tree -> sha256 (None: deleted)
    after: dict[str, str | None] = field(default_factory=dict)

    @property
    def base(self) -> str | None:
        """The commit the update was applied on: the snapshot, else the user's HEAD."""
        return self.snapshot or self.head_before


def git_dir(root: Path) -> Path:
    return Path(git(root, "rev-parse", "--absolute-git-dir").stdout.strip())


def record_path(root: Path) -> Path:
    return git_dir(root) / RECORD_NAME


def write(root: Path, record: UpdateRecord) -> None:
    import json

    data = {"format": FORMAT, **asdict(record)}
    atomic.write_text(record_path(root), json.dumps(data, indent=2, sort_keys=True) + "\n")


def remove(root: Path) -> None:
    record_path(root).unlink(missing_ok=True)


def load(root: Path) -> UpdateRecord | None:
    """The record of the last ``tc update``; None when there is none; InputError when unusable."""
    path = record_path(root)
    if not path.exists() and not path.is_symlink():
        return None
    try:
        data = jsonload.load(path, max_bytes=32 * 1024 * 1024)
    except InputError as exc:
        raise InputError(f"{exc.message} (the record of the last tc update)", f"{_FIX}: rm {path}") \
            from None
    problem = _problem(data)
    if problem:
        raise InputError(f"{path}: not a valid record of a tc update ({problem})", f"{_FIX}: rm {path}")
    fields = {k: v for k, v in data.items() if k != "format"}
    return UpdateRecord(**fields)


def _problem(data: Any) -> str | None:
    """Why ``data`` is not a record this tc wrote, or None."""
    if not isinstance(data, dict):
        return f"a {type(data).__name__}, not an object"
    if data.get("format") != FORMAT:
        return f"format {data.get('format')!r}, expected {FORMAT}"
    known = {"format", *UpdateRecord.__dataclass_fields__}
    if set(data) != known:
        odd = sorted(set(data) ^ known)
        return f"missing or unknown keys: {', '.join(odd)}"
    if data["state"] not in STATES:
        return f"state {data['state']!r}"
    for key in ("from_version", "to_version"):
        if not isinstance(data[key], str):
            return f"{key} is not a string"
    for key in ("head_before", "snapshot", "index_tree", "update_commit"):
        value = data[key]
        if value is not None and not (isinstance(value, str) and _SHA.fullmatch(value)):
            return f"{key} is not a commit id"
    if data["state"] == "committed" and data["update_commit"] is None:
        return "a committed update without its commit"
    if data["snapshot"] is None and data["index_tree"] is not None:
        return "an index without a snapshot"
    created, after = data["created"], data["after"]
    if not isinstance(created, list) or not isinstance(after, dict):
        return "created must be a list and after an object"
    for rel in [*created, *after]:
        bad = _bad_path(rel)
        if bad:
            return bad
    for value in after.values():
        if value is not None and not (isinstance(value, str) and len(value) <= 80):
            return "a fingerprint is not a digest"
    return None


def _bad_path(rel: Any) -> str | None:
    if not isinstance(rel, str) or not rel or "\x00" in rel:
        return f"path {rel!r} is not a file name"
    pure = PurePosixPath(rel)
    if pure.is_absolute() or ".." in pure.parts or "\\" in rel:
        return f"path {rel!r} leaves the project"
    if pure.parts[0] == ".git":
        return f"path {rel!r} is inside .git"
    return None


# ---- git's view of the tree --------------------------------------------------------------------

def head(root: Path) -> str | None:
    """The commit HEAD names; None in a repository without commits."""
    done = git(root, "rev-parse", "--verify", "-q", "HEAD^{commit}", check=False)
    return done.stdout.strip() if done.returncode == 0 else None


def changed_paths(root: Path) -> dict[str, str]:
    """Every path ``git status`` shows (untracked files one by one) -> its two status letters."""
    out = git(root, "status", "--porcelain=v1", "-z", "--untracked-files=all").stdout
    entries = out.split("\0")
    result: dict[str, str] = {}
    i = 0
    while i < len(entries):
        entry = entries[i]
        i += 1
        if len(entry) < 4:
            continue
        code, rel = entry[:2], entry[3:]
        result[rel] = code
        if code[0] in "RC" and i < len(entries):  # a rename: the next entry is its source
            result[entries[i]] = code
            i += 1
    return result


def ignored_files(root: Path) -> set[str]:
    """Files git ignores (an ignored folder counts as one entry, so this stays short)."""
    out = git(root, "ls-files", "-z", "--others", "--ignored", "--exclude-standard",
              "--directory").stdout
    return {rel for rel in out.split("\0") if rel and not rel.endswith("/")}


def digest(path: Path) -> str | None:
    """sha256 of a file (of a symlink's target text); None when the path does not exist."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(st.st_mode):
        return "link:" + hashlib.sha256(os.fsencode(os.readlink(path))).hexdigest()
    if stat.S_ISDIR(st.st_mode):
        return "dir"
    return f"{stat.S_IMODE(st.st_mode):o}:{sha256_file(path) or ''}"


def fingerprint(root: Path, paths: list[str] | set[str]) -> dict[str, str | None]:
    return {rel: digest(root / rel) for rel in sorted(paths)}
