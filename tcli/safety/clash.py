"""Detect iproute2's ``tc`` (traffic control) shadowing tc on PATH.

On Debian/Ubuntu iproute2 installs ``/sbin/tc`` or ``/usr/sbin/tc``; when that folder comes
first on PATH, ``tc new`` runs the wrong program. :func:`detect_tc_clash` looks at the first
``tc`` on a PATH string and returns a one-line explanation with the fix when it is not ours
(ours is a Python console script whose file names ``tcli``), else None. ``traincontainer``
and ``python -m tcli`` are the unambiguous names that always work.
"""

from __future__ import annotations

import os
from pathlib import Path

ALIASES = "use 'traincontainer' or 'python -m tcli', or put tc's folder first on PATH"


def _is_ours(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    return head.startswith(b"#!") and b"tcli" in head


def detect_tc_clash(path_env: str | None) -> str | None:
    """A message when the first executable ``tc`` on ``path_env`` is not tc's, else None.

    None too when there is no ``tc`` on PATH at all (nothing to shadow).
    """
    for folder in (path_env or "").split(os.pathsep):
        if not folder:
            continue
        cand = Path(folder) / "tc"
        if cand.is_file() and os.access(cand, os.X_OK):
            if _is_ours(cand):
                return None
            kind = "iproute2's traffic-control tool" if _looks_like_iproute2(cand) else "another program"
            return (f"'tc' on PATH is {cand} ({kind}), not the train-container tc: {ALIASES}")
    return None


def _looks_like_iproute2(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            head = fh.read(4)
    except OSError:
        return False
    return head == b"\x7fELF" or path.parent.name == "sbin"
