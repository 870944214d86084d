"""Path confinement: a path from a project, a Dockerfile or a ZIP must stay inside its root.

``confine(root, rel)`` joins, resolves every symlink on the way (the target must exist only
when ``must_exist``) and raises :class:`~tcli.errors.InputError` when the result leaves ``root``.
Absolute parts, ``..`` and symlinks pointing outside are all caught by the one rule "the
resolved path is ``root`` itself or below it", evaluated after resolution.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from tcli.errors import InputError


class PathEscape(InputError):
    """A path from untrusted input resolves outside the folder it must stay in (exit 2)."""


def is_inside(path: Path, root: Path) -> bool:
    """True when ``path`` (resolved, symlinks followed) is ``root`` (resolved) or below it."""
    try:
        real = path.resolve(strict=False)
    except (OSError, RuntimeError):  # symlink loop, unreadable component
        return False
    return real.is_relative_to(root.resolve(strict=False))


def confine(root: Path, rel: str | os.PathLike[str], *, what: str = "path",
            must_exist: bool = False) -> Path:
    """``root / rel`` resolved; InputError when it leaves ``root`` (or is missing and must exist).

    ``what`` names where the path came from in the message, e.g. ``"Dockerfile line 4: COPY source"``.
    """
    text = os.fspath(rel)
    if "\x00" in text:
        raise PathEscape(f"{what}: {text!r} contains a NUL byte", "remove the NUL byte")
    joined = root / text
    try:
        real = joined.resolve(strict=False)
    except (OSError, RuntimeError) as exc:  # loops
        raise PathEscape(f"{what}: {text}: cannot be resolved ({exc.__class__.__name__})",
                         "remove the symlink loop") from None
    base = root.resolve(strict=False)
    if not real.is_relative_to(base):
        raise PathEscape(f"{what}: {text} resolves to {real}, outside {base}",
                         "use a path inside the folder; symlinks and '..' may not leave it")
    if must_exist and not real.exists():
        raise InputError(f"{what}: {text}: no such file in {base}", "check the path")
    return real


def clean_member_name(name: str) -> PurePosixPath | None:
    """A ZIP/tar member name as a relative POSIX path, or None when it is unsafe
    (absolute, drive letter, backslash, ``..`` component, NUL, empty)."""
    if not name or "\x00" in name or "\\" in name or name.startswith("/"):
        return None
    if len(name) > 1 and name[1] == ":":
        return None
    p = PurePosixPath(name)
    if any(part in ("..", "", ".") for part in name.split("/")):
        return None
    return p
