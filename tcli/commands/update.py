"""``tc update``: merge a newer scaffold version into an existing project."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from tcli.errors import InputError, TcError
from tcli.ui import console

if TYPE_CHECKING:
    from tcli.scaffold.update import Preview, UndoResult

EPILOG = "Example: cd my-container && git commit -am wip && tc update --dry-run && tc update"


def command(
    path: Path = typer.Argument(Path("."), help="Project folder (default: current folder)."),
    force: bool = typer.Option(
        False, "--force",
        help="Update a dirty git tree: commit the local changes as a snapshot first.",
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run",
        help="List every file as unchanged / updated / merged / conflicting / added / removed; "
             "write nothing.",
    ),
    undo: bool = typer.Option(
        False, "--undo",
        help="Restore the tree as it was before the last tc update (its commit, conflicts and "
             "--force snapshot).",
    ),
) -> None:
    """Apply tc's current scaffolds to a project made by tc new.

    Uses Copier's update (a three-way merge between the version the project was made from,
    your changes and the new version). A clean merge becomes one commit on top of your work;
    conflicts are left as <<<<<<< markers and listed. tc update --undo goes back.
    """
    from tcli.scaffold import update as scaffold_update

    if undo:
        for flag, given in (("--dry-run", dry_run), ("--force", force)):
            if given:
                raise InputError(f"--undo and {flag} exclude each other", "pass one of them")
        _undo(scaffold_update.undo(path))
        return
    if dry_run:
        _preview(scaffold_update.preview_update(path))
        return
    result = scaffold_update.update(path, force=force)
    if result.snapshot_commit:
        console.warn(f"committed your local changes first ({result.snapshot_commit[:10]})")
    if result.old_version == result.new_version:
        console.success(f"Already up to date (scaffolds {result.new_version}).")
        return
    console.info(
        f"Updated {result.path} from scaffolds {result.old_version} to {result.new_version}: "
        f"{len(result.changed)} files changed."
    )
    for rel in result.changed:
        console.print(f"  {rel}", markup=False)
    if result.conflicts:
        raise TcError(
            f"{len(result.conflicts)} file(s) with merge conflicts: {', '.join(result.conflicts)}",
            "resolve the <<<<<<< / >>>>>>> markers, then git add and commit; "
            "or go back with: tc update --undo",
        )
    if result.update_commit:
        console.success(f"Committed the update as {result.update_commit[:10]} "
                        f"(tc update: scaffolds {result.old_version} -> {result.new_version}).")
        console.print("Review with 'git show'; undo with: tc update --undo", markup=False)


def _preview(preview: Preview) -> None:
    for state, rel in preview.rows:
        console.print(f"  {state:<12} {rel}", markup=False)
    counts = ", ".join(f"{n} {state}" for state, n in preview.counts().items())
    console.info(f"dry run: scaffolds {preview.old_version} -> {preview.new_version}: {counts}; "
                 "nothing was written")


def _undo(result: UndoResult) -> None:
    if result.state == "noop":
        console.success(f"The last tc update changed nothing (already up to date at "
                        f"{result.to_version}); nothing to undo.")
        return
    where = f"HEAD is back at {result.head[:10]}" if result.head else "no commit, as before"
    console.success(f"Undid the tc update {result.from_version} -> {result.to_version}: {where}.")
    if result.removed:
        console.info(f"Removed {len(result.removed)} file(s) the update created.")
    if result.unwound_snapshot:
        console.info("Your local changes are uncommitted changes again (the --force snapshot "
                     "commit is gone).")
    if result.kept:
        console.warn(f"the update was interrupted; these untracked files may be its own or yours, "
                     f"so they were kept: {', '.join(result.kept)}")
