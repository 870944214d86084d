"""What a scaffold version renders for a project: the one source of "a file ``tc update`` wrote".

``tc update --undo`` deletes only files the update itself created. Which files those are is
not read from a before/after listing of the folder (another process may write a model or a ZIP
there while the update runs), nor trusted from the record alone (``.git/tc-update.json`` is a
file anyone can write): a file counts as the update's when the scaffold version it went to,
rendered again from the local scaffold store with the project's answers, holds that very
file with the same content.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from tcli.safety.digest import sha256_file
from tcli.scaffold.store import copier_failure, git


def content_digest(path: Path) -> str | None:
    """sha256 of a regular file's bytes (streamed); None for anything else."""
    return sha256_file(path)


def render_digests(store: Path, tag: str, answers: dict[str, Any]) -> dict[str, str] | None:
    """relative path -> sha256 of every file scaffold version ``tag`` renders with ``answers``;
    None when the store does not hold ``tag`` (then nothing can be proven to be the update's)."""
    import copier

    if not (store / ".git").is_dir() or tag not in git(store, "tag", "--list").stdout.split():
        return None
    data = {k: v for k, v in answers.items() if not str(k).startswith("_")}
    with tempfile.TemporaryDirectory(prefix="tc-update-render-") as tmp:
        dest = Path(tmp) / "render"
        try:
            copier.run_copy(str(store), str(dest), vcs_ref=tag, data=data, defaults=True,
                            overwrite=True, quiet=True, unsafe=False)
        except copier.errors.CopierError as exc:
            raise copier_failure("update", exc) from None
        out: dict[str, str] = {}
        for dirpath, dirnames, filenames in os.walk(dest):
            dirnames[:] = [d for d in dirnames if d != ".git"]
            for name in filenames:
                path = Path(dirpath) / name
                digest = content_digest(path)
                if digest is not None:
                    out[path.relative_to(dest).as_posix()] = digest
    return out


def written_by_update(root: Path, candidates: set[str], rendered: dict[str, str] | None) -> list[str]:
    """The ``candidates`` (relative paths) whose file in ``root`` is what the update rendered."""
    if not rendered:
        return []
    return sorted(rel for rel in candidates
                  if rel in rendered and content_digest(root / rel) == rendered[rel])
