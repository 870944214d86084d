"""``tc update``: merge a newer scaffold version into an existing project."""

from __future__ import annotations

from pathlib import Path

import typer

from tcli.errors import TcError
from tcli.ui import console

EPILOG = "Example: cd my-container && git commit -am wip && tc update"


def command(
    path: Path = typer.Argument(Path("."), help="Project folder (default: current folder)."),
    force: bool = typer.Option(
        False, "--force",
        help="Update a dirty git tree: commit the local changes as a snapshot first.",
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run",
        help="List every file as unchanged / updated / conflicting / added / removed; write nothing.",
    ),
) -> None:
    """Apply tc's current scaffolds to a project made by tc new.

    Uses Copier's update (a three-way merge between the version the project was made from,
    your changes and the new version). Conflicts are left as <<<<<<< markers and listed.
    """
    from tcli import scaffold

    if dry_run:
        preview, rows = scaffold.preview_update(path)
        for state, rel in rows:
            console.print(f"  {state:<12} {rel}", markup=False)
        console.info(f"dry run: scaffolds {preview.old_version} -> {preview.new_version}; "
                     f"{len(preview.changed)} file(s) would change, {len(preview.conflicts)} "
                     "conflicting; nothing was written")
        return
    result = scaffold.update(path, force=force)
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
            "resolve the <<<<<<< / >>>>>>> markers, then git add and commit",
        )
    console.print("Review with 'git diff', then commit.", markup=False)
