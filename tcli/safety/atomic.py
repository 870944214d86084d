"""One atomic-write helper for every file tc writes.

The bytes go to a temporary file in the same folder, are fsynced, and replace the target with
``os.replace`` (atomic on POSIX): a reader sees the old file or the new one, never half of
one; a crash, a full disk or Ctrl-C leaves the old file as it was. The target's permission bits
are kept when it exists (else ``mode`` is used, default 0o644 minus nothing: tc writes plain
files). Errors become :class:`~tcli.errors.InputError` naming the path.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterator
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
def atomic_open(path: Path, mode: int | None = None) -> Iterator[IO[bytes]]:
    """Yield a binary file; on a clean exit it replaces ``path`` atomically (fsynced)."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a file", "give a file name")
    keep = None
    with contextlib.suppress(OSError):  # missing, or a parent is not a folder (mkstemp says so)
        keep = stat.S_IMODE(path.stat().st_mode)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name[:40]}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise os_error(path, exc) from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, keep if keep is not None else (mode if mode is not None else 0o644))
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise os_error(path, exc) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def write_bytes(path: Path, data: bytes, mode: int | None = None) -> None:
    """Write ``data`` to ``path`` atomically (see the module docstring)."""
    with atomic_open(path, mode) as fh:
        fh.write(data)


def write_text(path: Path, text: str, mode: int | None = None, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically (see the module docstring)."""
    write_bytes(path, text.encode(encoding), mode)
