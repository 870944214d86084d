"""The one file digest: sha256 of a regular file's bytes, streamed in 1 MiB blocks.

Used wherever tc judges a file by its content (what it made, what an update wrote, what a
report or an import wrote): a link is never followed, a FIFO never blocks, memory does not grow
with the file.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

BLOCK = 1 << 20


def sha256_file(path: Path) -> str | None:
    """The hex sha256 of regular file ``path``; None when it is missing, a link or not a file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        h = hashlib.sha256()
        while chunk := os.read(fd, BLOCK):
            h.update(chunk)
        return h.hexdigest()
    except OSError:
        return None
    finally:
        os.close(fd)
