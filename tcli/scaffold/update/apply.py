"""``tc update``: merge the current scaffolds into a project, as one commit on top of its work.

The order is chosen so a failure costs nothing: the answers, git and the scaffold store are
checked before the project is touched; a dirty tree is refused (or, with ``force``, committed
as a snapshot); the record for ``tc update --undo`` is written before Copier runs; a merge
without conflicts is committed, one with conflicts is left in the working tree with its
markers. Either way :func:`tcli.scaffold.update.undo.undo` can put the tree back.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tcli.contract import ANSWERS_FILE
from tcli.errors import InputError, TcError
from tcli.safety import atomic
from tcli.scaffold.store import StoreRef, copier_failure, git, inside_git, sync_store
from tcli.scaffold.update import record, rendered
from tcli.scaffold.update.record import UpdateRecord

SNAPSHOT_MESSAGE = "tc update: snapshot of local changes"
#: git trailer of an update commit: the commit the update was applied on
TRAILER = "Tc-Update-From"


@dataclass
class UpdateResult:
    path: Path
    old_version: str
    new_version: str
    changed: list[str]
    conflicts: list[str]
    snapshot_commit: str | None = None
    #: the commit holding the update (None: up to date, or conflicts left uncommitted)
    update_commit: str | None = None


@dataclass
class Prepared:
    """A project checked and ready to update: its root, answers and the store's newest tag."""

    root: Path
    answers: dict[str, Any]
    old_version: str
    ref: StoreRef

    @property
    def current(self) -> bool:
        return self.old_version == self.ref.tag


def _load_answers(answers_path: Path, yaml: Any) -> dict[str, Any]:
    """The answers file as a mapping with a ``_commit``; InputError (one line) otherwise."""
    fix = "restore it from git (git checkout -- .copier-answers.yml) or recreate the project"
    try:
        raw = answers_path.read_bytes()
        if len(raw) > 1024 * 1024:
            raise InputError(f"{answers_path}: too large ({len(raw)} bytes) for an answers file", fix)
        text = raw.decode("utf-8")
        if "\x00" in text:
            raise InputError(f"{answers_path}: binary content, not an answers file", fix)
        old = yaml.safe_load(text)
    except UnicodeDecodeError:
        raise InputError(f"{answers_path}: not UTF-8 text, not an answers file", fix) from None
    except OSError as exc:
        raise InputError(f"{answers_path}: cannot read: {exc.strerror or exc}", fix) from None
    except (yaml.YAMLError, RecursionError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{answers_path}: not valid YAML ({first})", fix) from None
    if not isinstance(old, dict):
        raise InputError(f"{answers_path}: holds a {type(old).__name__}, not the answers mapping", fix)
    if not isinstance(old.get("_commit"), str):
        raise InputError(f"{answers_path}: no scaffold version (_commit) recorded", fix)
    return old


def prepare(path: Path) -> Prepared:
    """Check the project (answers, git) and sync the store; nothing in the project is written."""
    import yaml

    root = path.resolve()
    answers_path = root / ANSWERS_FILE
    if not answers_path.is_file():
        raise InputError(
            f"{answers_path}: missing; this project was not made by 'tc new'",
            "run tc update in a folder created by 'tc new'",
        )
    answers = _load_answers(answers_path, yaml)
    if not inside_git(root):
        raise InputError(
            f"{root}: not a git repository; tc update merges with git",
            "run: git init && git add -A && git commit -m 'initial'",
        )
    ref = sync_store()
    old_version = str(answers["_commit"])
    if old_version not in git(ref.path, "tag", "--list").stdout.split():
        raise TcError(
            f"{answers_path}: scaffold version {old_version!r} is not in the local scaffold store "
            f"{ref.path}",
            "tc update needs the version the project was made from; "
            "run it on the machine (TC_HOME) where the project was created",
        )
    return Prepared(root, answers, old_version, ref)


def commit(root: Path, message: str) -> str:
    """Commit everything in the working tree; tc's own commits skip the user's git hooks (a hook
    that rewrote files would make the commit, and so the undo, differ from what tc wrote)."""
    git(root, "add", "-A")
    git(root, "commit", "-q", "--no-verify", "-m", message)
    return git(root, "rev-parse", "HEAD").stdout.strip()


def refuse_dirty(root: Path) -> None:
    raise InputError(
        f"{root}: uncommitted changes; nothing was updated",
        "commit or stash them first, or pass --force to snapshot them in a commit",
    )


def snapshot(root: Path) -> tuple[str, str | None]:
    """Commit a dirty tree as it is: (snapshot commit, tree of the index before it)."""
    written = git(root, "write-tree", check=False)  # fails while the index holds a conflict
    index_tree = written.stdout.strip() if written.returncode == 0 else None
    return commit(root, SNAPSHOT_MESSAGE), index_tree


def use_local_store(root: Path, store: Path) -> bool:
    """Point the answers' ``_src_path`` at the local scaffold store (checked to hold the
    project's version) before Copier reads it: both scaffold versions then come from there,
    never from a path or URL that came with the project (a project made under another
    TC_HOME, or someone else's project naming a remote repository). True if it changed."""
    import yaml

    path = root / ANSWERS_FILE
    text = path.read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict) or data.get("_src_path") == str(store):
        return False
    data["_src_path"] = str(store)
    lines = text.splitlines(keepends=True)
    header = "".join(line for line in lines[:next(
        (i for i, line in enumerate(lines) if not line.startswith("#")), len(lines))])
    atomic.write_text(path, header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return True


def merge(root: Path, tag: str, *, defaults: bool = True, store: Path | None = None) -> None:
    """Copier's three-way update of ``root`` to scaffold version ``tag``, conflicts inline
    (both versions read from ``store``, the local scaffold store, when given)."""
    import copier

    base = git(root, "rev-parse", "HEAD").stdout.strip()
    # Copier refuses a dirty tree: the changed answers go into a commit of their own that is
    # folded back (soft reset) whatever happens, so the update stays one commit on ``base``
    redirected = store is not None and use_local_store(root, store)
    if redirected:
        commit(root, "tc update: read the local scaffold store")
    try:
        copier.run_update(
            str(root), vcs_ref=tag, defaults=defaults,
            overwrite=True, quiet=True, skip_answered=True, unsafe=False, conflict="inline",
        )
    except copier.errors.CopierError as exc:
        raise copier_failure("update", exc) from None
    finally:
        if redirected:
            git(root, "reset", "-q", "--soft", base)


def conflicted_files(root: Path, changed: dict[str, str]) -> list[str]:
    """Files git records as unmerged or that hold both conflict markers."""
    marked = {rel for rel, code in changed.items() if "U" in code or code in ("AA", "DD")}
    for rel in changed:
        p = root / rel
        if p.is_file() and not p.is_symlink():
            try:
                text = p.read_text(errors="replace")
            except OSError:
                continue
            if "<<<<<<< " in text and ">>>>>>> " in text:
                marked.add(rel)
    return sorted(marked)


def update(path: Path, *, force: bool = False, defaults: bool = True) -> UpdateResult:
    """Apply the current scaffolds to an existing project (Copier's three-way merge).

    Refuses on a dirty git tree unless ``force``; with ``force`` the local changes are first
    committed as a snapshot. A merge without conflicts becomes one commit
    (``tc update: scaffolds OLD -> NEW``); with conflicts the tree is left uncommitted with the
    markers. Either way ``tc update --undo`` restores the tree as it was before.
    """
    prep = prepare(path)
    root = prep.root
    if prep.current:
        if not record.record_path(root).exists():  # an older record stays undoable
            record.write(root, UpdateRecord("noop", prep.old_version, prep.ref.tag, record.head(root)))
        return UpdateResult(root, prep.old_version, prep.ref.tag, [], [])
    dirty = bool(record.changed_paths(root))
    if dirty and not force:
        refuse_dirty(root)
    rec = UpdateRecord("started", prep.old_version, prep.ref.tag, record.head(root))
    ignored_before = record.ignored_files(root)
    record.write(root, rec)  # before the snapshot: an unwritable record stops tc here, unchanged
    if dirty:
        try:
            rec.snapshot, rec.index_tree = snapshot(root)
        except BaseException:  # the user's files are as they were; nothing to record
            with contextlib.suppress(Exception):
                record.remove(root)
            raise
    try:
        if dirty:
            record.write(root, rec)
        merge(root, prep.ref.tag, defaults=defaults, store=prep.ref.path)
        changed = record.changed_paths(root)
        conflicts = conflicted_files(root, changed)
        if changed and not conflicts:
            rec.update_commit = _commit_update(root, prep, rec)
    except BaseException as exc:
        with contextlib.suppress(Exception):  # keep the first error; the record stays 'started'
            _left_in_tree(root, prep, rec, ignored_before)
            record.write(root, rec)
        if isinstance(exc, TcError) and exc.hint is None:
            exc.hint = "tc update --undo puts the tree back as it was before"
        raise
    if rec.update_commit:
        rec.state = "committed"
        rec.created = _written(root, prep, record.ignored_files(root) - ignored_before)
        rec.after = record.fingerprint(root, rec.created)
    else:
        _left_in_tree(root, prep, rec, ignored_before)
    record.write(root, rec)
    return UpdateResult(root, prep.old_version, prep.ref.tag, sorted(changed), conflicts,
                        rec.snapshot, rec.update_commit)


def _commit_update(root: Path, prep: Prepared, rec: UpdateRecord) -> str:
    message = (f"tc update: scaffolds {prep.old_version} -> {prep.ref.tag}\n\n"
               "Undo with: tc update --undo\n\n"
               f"{TRAILER}: {rec.base or 'none (first commit)'}\n")
    try:
        return commit(root, message)
    except TcError as exc:
        raise TcError(f"{root}: the update was applied but not committed: {exc.message}",
                      "commit it yourself (git add -A && git commit), or go back with: tc update --undo"
                      ) from None


def _written(root: Path, prep: Prepared, candidates: set[str]) -> list[str]:
    """The new files among ``candidates`` that the update wrote: those the new scaffold version
    renders with the same content (:mod:`rendered`). A file another process wrote meanwhile (a
    model, a ZIP) is not one of them, so undo never deletes it."""
    if not candidates:
        return []
    digests = rendered.render_digests(prep.ref.path, prep.ref.tag, prep.answers)
    return rendered.written_by_update(root, candidates, digests)


def _left_in_tree(root: Path, prep: Prepared, rec: UpdateRecord, ignored_before: set[str]) -> None:
    """Record an update left uncommitted: what it created and how the tree looks now.

    The tree was clean when Copier started (or snapshotted), so an untracked file now is one
    the update created or one another process wrote meanwhile: only the update's own
    (:func:`_written`) are recorded as created."""
    changed = record.changed_paths(root)
    new = {rel for rel, code in changed.items() if code == "??"}
    new |= record.ignored_files(root) - ignored_before
    rec.state = "uncommitted"
    rec.created = _written(root, prep, new)
    rec.after = record.fingerprint(root, set(changed) | set(rec.created))
