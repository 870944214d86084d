"""What tc made, judged by content: a manifest tc writes into a folder it fills, and the one
rule for deleting there (issue 28).

When tc fills a folder (the mock MinIO's ``datasets/<id>`` for ``tc dev-run``, demo data) it
writes ``.tc-made.json`` beside the files: for each file, what tc put there —

- ``sha256:<hex>``: a file tc wrote (its content digest);
- ``link:<target>``: a symlink tc made (removing it loses nothing);
- ``inode:<dev>:<ino>``: a hard link tc made to a user's file (the same inode: tc's own link
  to it, removed like a symlink; the user's file keeps its own name).

:func:`clear` empties such a folder only when *every* entry in it is one of those, unchanged;
anything else (a user's own dataset, a file tc wrote and the user then edited, a hard link
tc did not record, a folder without a manifest) makes it refuse with one line naming the
file, deleting nothing. The manifest is read as untrusted JSON (:mod:`tcli.safety.jsonload`).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath

from tcli.errors import InputError
from tcli.safety import atomic, jsonload
from tcli.safety.digest import sha256_file

MANIFEST = ".tc-made.json"
FORMAT = 1
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
MAX_ENTRIES = 1_000_000


class NotMadeByTc(InputError):
    """A folder tc was asked to replace holds something tc did not make (exit 2)."""


def file_digest(path: Path) -> str:
    """``sha256:<hex>`` of a regular file, read in blocks."""
    return "sha256:" + (sha256_file(path) or "")


def entry_of(path: Path, *, hardlink: bool = False) -> str:
    """The manifest entry for what tc just made at ``path``."""
    st = path.lstat()
    if stat.S_ISLNK(st.st_mode):
        return "link:" + os.readlink(path)
    if hardlink:
        return f"inode:{st.st_dev}:{st.st_ino}"
    return file_digest(path)


def _still_ours(path: Path, entry: str) -> bool:
    try:
        st = path.lstat()
    except OSError:
        return False
    if entry.startswith("link:"):
        return stat.S_ISLNK(st.st_mode) and os.readlink(path) == entry[5:]
    if not stat.S_ISREG(st.st_mode):
        return False
    if entry.startswith("inode:"):  # tc's hard link to the user's file
        return entry == f"inode:{st.st_dev}:{st.st_ino}"
    return entry.startswith("sha256:") and file_digest(path) == entry


def write(folder: Path, entries: dict[str, str], *, what: str) -> None:
    """Record ``entries`` (relative POSIX path -> entry) as what tc made in ``folder``."""
    import json

    data = {"format": FORMAT, "made_by": "tc", "what": what, "files": dict(sorted(entries.items()))}
    atomic.write_text(folder / MANIFEST, json.dumps(data, indent=1) + "\n")


def load(folder: Path) -> dict[str, str] | None:
    """The entries of ``folder``'s manifest; None when it has none or it is not tc's."""
    path = folder / MANIFEST
    if path.is_symlink() or not path.is_file():
        return None
    try:
        data = jsonload.load(path, max_bytes=MAX_MANIFEST_BYTES)
    except InputError:
        return None
    if not (isinstance(data, dict) and data.get("format") == FORMAT and data.get("made_by") == "tc"
            and isinstance(data.get("files"), dict) and len(data["files"]) <= MAX_ENTRIES):
        return None
    files: dict[str, str] = {}
    for rel, entry in data["files"].items():
        pure = PurePosixPath(rel)
        if (not isinstance(entry, str) or not rel or pure.is_absolute() or ".." in pure.parts
                or "\\" in rel or "\x00" in rel or rel == MANIFEST):
            return None
        files[rel] = entry
    return files


def foreign(folder: Path) -> Path | None:
    """The first entry under ``folder`` tc did not make (or that changed since), else None."""
    entries = load(folder) or {}
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        for name in sorted(filenames) + sorted(d for d in dirnames if (here / d).is_symlink()):
            path = here / name
            rel = path.relative_to(folder).as_posix()
            if rel == MANIFEST and entries:
                continue
            if rel not in entries or not _still_ours(path, entries[rel]):
                return path
        dirnames[:] = sorted(d for d in dirnames if not (here / d).is_symlink())
    return None


def clear(folder: Path, *, fix: str) -> None:
    """Remove ``folder`` when everything in it is what tc made (see the module docstring);
    NotMadeByTc naming the first other file otherwise (nothing is deleted then).

    ``folder`` itself must be a real folder or missing: a symlink there is not tc's."""
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise NotMadeByTc(f"{folder}: not a folder tc made (a link or a file); nothing was deleted",
                          fix)
    if not folder.exists():
        return
    other = foreign(folder)
    if other is not None:
        raise NotMadeByTc(f"{other}: not made by tc, or changed since; nothing was deleted", fix)
    for dirpath, dirnames, filenames in os.walk(folder, topdown=False):
        here = Path(dirpath)
        for name in filenames:
            if name != MANIFEST or here != folder:
                (here / name).unlink()
        for name in dirnames:
            sub = here / name
            sub.unlink() if sub.is_symlink() else sub.rmdir()
    (folder / MANIFEST).unlink(missing_ok=True)
    folder.rmdir()
