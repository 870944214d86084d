"""One atomic-write helper for every file tc writes.

The bytes go to a temporary file in the same folder, are fsynced, and replace the target with
``os.replace`` (atomic on POSIX): a reader sees the old file or the new one, never half of
one; a crash, a full disk or Ctrl-C leaves the old file as it was. The target's permission bits
are kept when it exists (else ``mode`` is used, default 0o644 minus nothing: tc writes plain
files). Errors become :class:`~tcli.errors.InputError` naming the path.

This module is the only place in tcli that renames a file over another
(``tests/test_atomic_writes.py`` keeps it so): a file written in one go uses :func:`atomic_open`,
:func:`write_bytes` or :func:`write_text` (``check`` inspects the finished temporary file before
it replaces the target, as ``tc package --verify`` does); a file or a folder built beside its
target (a staging folder on the same file system) is moved into place with :func:`replace`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from tcli.errors import InputError

_FIXES = {
    errno.ENOSPC: "free some disk space and run it again",
    errno.EDQUOT: "free some disk space (quota) and run it again",
    errno.EACCES: "choose a folder you can write to, or fix its permissions",
    errno.EPERM: "choose a folder you can write to, or fix its permissions",
    errno.EROFS: "the file system is read-only: choose another folder",
    errno.ENAMETOOLONG: "use a shorter name",
    errno.EISDIR: "give a file name, not a folder",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
}


def os_error(path: Path, exc: OSError, action: str = "cannot write") -> InputError:
    """An InputError for an OSError on ``path``: one line with the reason and the fix."""
    reason = exc.strerror or exc.__class__.__name__
    return InputError(f"{path}: {action}: {reason}",
                      _FIXES.get(exc.errno or 0, "check the path and its permissions"))


@contextlib.contextmanager
def atomic_open(path: Path, mode: int | None = None, *,
                check: Callable[[Path], None] | None = None,
                action: str = "cannot write") -> Iterator[IO[bytes]]:
    """Yield a binary file; on a clean exit it replaces ``path`` atomically (fsynced).

    ``check`` runs on the finished temporary file before the replace; when it raises, the
    temporary file is removed and ``path`` is left as it was. ``action`` starts the error's
    reason (``"cannot write the ZIP"``)."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a file", "give a file name")
    keep = None
    with contextlib.suppress(OSError):  # missing, or a parent is not a folder (mkstemp says so)
        keep = stat.S_IMODE(path.stat().st_mode)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name[:40]}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise os_error(path, exc, action) from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, keep if keep is not None else (mode if mode is not None else 0o644))
        if check is not None:
            check(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise os_error(path, exc, action) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _sync_dir(path.parent)


def _sync_dir(folder: Path) -> None:
    """fsync ``folder`` so that a rename in it is durable (best effort)."""
    with contextlib.suppress(OSError):
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def replace(src: Path, dst: Path) -> None:
    """Move ``src`` (a finished file or folder, on the same file system) to ``dst`` in one step.

    A file at ``dst`` (or a symlink, which is replaced, never followed) is replaced; a folder
    ``dst`` must not exist or be empty. The staging pattern: build in a private folder beside
    the target, then move it into place, so a reader sees the old state or the new one. An
    ``OSError`` is raised as it is, for the caller to name what it was writing."""
    os.replace(src, dst)
    _sync_dir(Path(dst).parent)


@contextlib.contextmanager
def staged_file(folder: Path, prefix: str = ".staged.") -> Iterator[tuple[IO[bytes], Path]]:
    """Yield a new private file in ``folder`` and its path, for bytes whose final name is known
    only once they are written (a download named by its sha256). On a clean exit the file is
    flushed and fsynced and stays for :func:`replace`; on any error it is removed. An
    ``OSError`` is raised as it is, for the caller to name what it was writing."""
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=folder)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh, tmp
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes(path: Path, data: bytes, mode: int | None = None) -> None:
    """Write ``data`` to ``path`` atomically (see the module docstring)."""
    with atomic_open(path, mode) as fh:
        fh.write(data)


def write_text(path: Path, text: str, mode: int | None = None, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically (see the module docstring)."""
    write_bytes(path, text.encode(encoding), mode)
