"""Bounded reading of input files: a size limit, regular files only.

``--log /dev/zero`` or a 50 MB schema must not make tc read without end: every input file is
read through :func:`read_bytes`/:func:`read_text` (or streamed from :func:`open_regular`), which
refuse non-regular files (devices, FIFOs, sockets: opened with O_NONBLOCK, so a FIFO never
blocks) and stop at ``max_bytes`` with a clear InputError.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from tcli.errors import InputError

#: Default cap for a text input (log, Dockerfile, .env, requirements): 10 MiB.
DEFAULT_MAX_BYTES = 10 * 1024 * 1024


class TooLarge(InputError):
    """An input file is over its size limit (exit 2)."""


def _open_fd(path: Path, label: str, max_bytes: int) -> int:
    """A read-only descriptor of regular file ``path`` of at most ``max_bytes`` (O_NONBLOCK,
    so a FIFO never blocks the open; fstat S_ISREG refuses it, a device or a folder)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise InputError(f"{label}: no such file", "check the path") from None
    except OSError as exc:
        raise InputError(f"{label}: cannot read: {exc.strerror or exc}", "check the path") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"{label}: not a regular file (a device, pipe or folder)",
                             "give a regular file")
        if st.st_size > max_bytes:
            raise TooLarge(f"{label}: {st.st_size} bytes, more than the limit of {max_bytes}",
                           "give a smaller file")
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_regular(path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES,
                 what: str | None = None) -> BinaryIO:
    """``path`` opened for streaming (binary), after the checks of :func:`read_bytes`; the
    caller still stops reading at ``max_bytes`` (a file may grow while it is read)."""
    fd = _open_fd(path, what or str(path), max_bytes)
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def read_bytes(path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES, what: str | None = None) -> bytes:
    """The bytes of regular file ``path``; InputError when missing, special, or over ``max_bytes``."""
    label = what or str(path)
    fd = _open_fd(path, label, max_bytes)
    try:
        chunks: list[bytes] = []
        total = 0
        while True:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:  # grew while we read
                raise TooLarge(f"{label}: more than the limit of {max_bytes} bytes",
                               "give a smaller file")
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_text(path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES, what: str | None = None,
              errors: str = "strict") -> str:
    """:func:`read_bytes` decoded as UTF-8; InputError naming the file when it is not UTF-8."""
    label = what or str(path)
    data = read_bytes(path, max_bytes=max_bytes, what=label)
    try:
        return data.decode("utf-8", errors=errors)
    except UnicodeDecodeError as exc:
        raise InputError(f"{label}: not UTF-8 text (byte {exc.start})", "save it as UTF-8") from None
