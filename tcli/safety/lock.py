"""An inter-process lock (``fcntl.flock``) for shared state such as the scaffold store.

Six ``tc new`` at once must not interleave their writes into ``TC_HOME/scaffold-store``: each
takes :func:`locked` on a lock file next to the store; the others wait (up to ``timeout_s``)
and then find the store ready. The lock is released by the kernel when the process dies, so a
crash or Ctrl-C never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from tcli.errors import InputError


class LockBusy(InputError):
    """Another tc held the lock for longer than the timeout (exit 2)."""


@contextlib.contextmanager
def locked(lock_file: Path, *, timeout_s: float = 120.0, poll_s: float = 0.05,
           what: str = "the scaffold store") -> Iterator[None]:
    """Hold an exclusive lock on ``lock_file`` (created if missing) for the ``with`` body."""
    try:
        lock_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_file, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
    except OSError as exc:
        raise InputError(f"{lock_file}: cannot create the lock for {what}: {exc.strerror or exc}",
                         "check that TC_HOME is a folder you can write to") from None
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise InputError(f"{lock_file}: cannot lock {what}: {exc.strerror or exc}",
                                     "check the file system of TC_HOME") from None
                if time.monotonic() >= deadline:
                    raise LockBusy(f"{lock_file}: another tc has held {what} for over {timeout_s:g} s",
                                   "wait for the other tc to finish, then run this again") from None
                time.sleep(poll_s)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
