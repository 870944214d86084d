"""Parse ``requirements.txt``: which requirements are not pinned."""

from __future__ import annotations

import re

_PINNED = re.compile(r"===?\s*[A-Za-z0-9][A-Za-z0-9._+!-]*\s*(?:;|\Z)")


def unpinned_requirements(text: str) -> list[tuple[int, str]]:
    """(line, requirement) for every requirement not pinned with ``==``/``===``.

    Options (``-r``, ``--index-url``), URLs and direct references (``name @ url``) count as
    pinned; ``==1.*`` does not.
    """
    result: list[tuple[int, str]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#") or line.startswith("-"):
            continue
        if "://" in line or " @ " in line or line.startswith(("git+", "file:")):
            continue
        spec = line.split(";", 1)[0].strip()
        if not _PINNED.search(spec + ";") or "*" in spec:
            result.append((number, line))
    return result
