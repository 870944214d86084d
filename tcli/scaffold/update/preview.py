"""``tc update --dry-run``: what an update would do to each file, without writing to the project.

The update runs on a copy of the project in a temporary folder (a dirty tree is snapshotted
there, as ``--force`` would). To tell a file the user never edited from one both sides changed,
the version the project was made from is rendered again, with the project's answers, into a
second temporary folder: a project file equal to that render was not edited.

Memory stays bounded whatever the project holds: files git ignores (datasets, models, ZIPs under
``.tc/``, ``train/``, ``*.onnx``) are neither copied nor listed (an update never touches them),
and files are compared by a streamed sha256, never read whole into memory.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tcli.errors import InputError
from tcli.scaffold.store import copier_failure, git
from tcli.scaffold.update import record
from tcli.scaffold.update.apply import Prepared, conflicted_files, merge, prepare, snapshot
from tcli.scaffold.update.rendered import content_digest

#: Every state of a file in a preview, in the order of the summary line.
STATES = (
    "unchanged",    # the update leaves it as it is
    "updated",      # you never edited it: the new scaffold version replaces it
    "merged",       # you and the scaffold both changed it; merged without conflict
    "conflicting",  # you and the scaffold changed the same lines: markers would be left
    "added",        # new in the scaffold
    "removed",      # the new scaffold version no longer has it
)


@dataclass
class Preview:
    path: Path
    old_version: str
    new_version: str
    #: (state, relative path) of every file, in path order
    rows: list[tuple[str, str]]

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATES, 0)
        for state, _ in self.rows:
            counts[state] += 1
        return counts


def preview_update(path: Path) -> Preview:
    """What ``tc update`` would do to every file of the project; nothing in it is written."""
    prep = prepare(path)  # checks the project itself (messages name it) and writes nothing there
    root = prep.root
    with tempfile.TemporaryDirectory(prefix="tc-update-preview-") as tmp:
        copy = Path(tmp) / "copy" / root.name
        ignored = _ignored(root)
        try:
            shutil.copytree(root, copy, symlinks=True, ignore=_skip(root, ignored))
        except (OSError, shutil.Error) as exc:
            raise InputError(f"{root}: cannot copy the project for the preview: {exc}",
                             "check the folder's permissions") from None
        before, old = _files(root, ignored), _old_render(prep, Path(tmp) / "old" / root.name)
        conflicts: set[str] = set()
        if not prep.current:
            if record.changed_paths(copy):
                snapshot(copy)
            merge(copy, prep.ref.tag, store=prep.ref.path)
            conflicts = set(conflicted_files(copy, record.changed_paths(copy)))
        after = _files(copy, ignored)
    rows: list[tuple[str, str]] = []
    for rel in sorted(set(before) | set(after)):
        if rel not in after:
            state = "removed"
        elif rel not in before:
            state = "added"
        elif before[rel] == after[rel]:
            state = "unchanged"
        elif rel in conflicts:
            state = "conflicting"
        elif old.get(rel) == before[rel]:
            state = "updated"
        else:
            state = "merged"
        rows.append((state, rel))
    return Preview(root, prep.old_version, prep.ref.tag, rows)


def _ignored(root: Path) -> set[str]:
    """What git ignores in ``root`` (a wholly ignored folder as one ``name/`` entry)."""
    out = git(root, "ls-files", "-z", "--others", "--ignored", "--exclude-standard",
              "--directory").stdout
    return {rel.rstrip("/") for rel in out.split("\0") if rel}


def _skip(root: Path, ignored: set[str]) -> Callable[[str, list[str]], set[str]]:
    """A ``copytree`` ignore function leaving out the ``ignored`` paths."""
    def ignore(folder: str, names: list[str]) -> set[str]:
        rel = Path(folder).relative_to(root)
        return {n for n in names if (rel / n).as_posix() in ignored}
    return ignore


def _old_render(prep: Prepared, dest: Path) -> dict[str, str]:
    """The files of the project's scaffold version rendered with its answers (no user edits)."""
    import copier

    if prep.current:
        return {}
    data = {k: v for k, v in prep.answers.items() if not k.startswith("_")}
    try:
        copier.run_copy(str(prep.ref.path), str(dest), vcs_ref=prep.old_version, data=data,
                        defaults=True, overwrite=True, quiet=True, unsafe=False)
    except copier.errors.CopierError as exc:
        raise copier_failure("update", exc) from None
    return _files(dest, set())


def _files(root: Path, ignored: set[str]) -> dict[str, str]:
    """relative path -> sha256 of every regular file under ``root`` but ``.git`` and the
    ``ignored`` paths (streamed: a big file costs time, not memory)."""
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root)
        dirnames[:] = [d for d in dirnames if (rel_dir / d).as_posix() not in ignored
                       and (rel_dir / d).as_posix() != ".git"]
        for name in filenames:
            rel = (rel_dir / name).as_posix()
            digest = content_digest(Path(dirpath) / name) if rel not in ignored else None
            if digest is not None:
                out[rel] = digest
    return out
