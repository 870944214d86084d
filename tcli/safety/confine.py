"""Path confinement: a path from a project, a Dockerfile or a ZIP must stay inside its root.

``confine(root, rel)`` joins, resolves every symlink on the way (the target must exist only
when ``must_exist``) and raises :class:`~tcli.errors.InputError` when the result leaves ``root``.
Absolute parts, ``..`` and symlinks pointing outside are all caught by the one rule "the
resolved path is ``root`` itself or below it", evaluated after resolution.

The rule is written here only (``tests/test_confine_once.py`` keeps it so): a module that needs
it calls :func:`confine` (raise), :func:`is_inside` (a finding or a refusal), :func:`resolve`
(a symlink loop as one line) or :func:`is_absolute_name` (a path as written in a file).
"""

from __future__ import annotations

import errno
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


def resolve(path: Path, what: str, *, missing_ok: bool = False) -> Path:
    """``path.resolve()``, every symlink followed; a loop or an unreadable part is an
    InputError naming ``what``. With ``missing_ok`` a missing path comes back as it is."""
    try:
        return path.resolve(strict=not missing_ok)
    except RuntimeError:  # Python < 3.13 raises RuntimeError on loops
        raise InputError(f"{what}: {path} is a symbolic link loop") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputError(f"{what}: {path} is a symbolic link loop") from None
        if exc.errno == errno.ENOENT and missing_ok:
            return path
        raise InputError(f"{what}: {path}: {exc.strerror}") from None


def is_absolute_name(name: str) -> bool:
    """Whether a path as written in a file (``/x``, ``C:x``, ``\\x``) is absolute."""
    norm = name.replace("\\", "/")
    return norm.startswith("/") or (len(norm) > 1 and norm[1] == ":")


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
    if not name or "\x00" in name or "\\" in name or is_absolute_name(name):
        return None
    p = PurePosixPath(name)
    if any(part in ("..", "", ".") for part in name.split("/")):
        return None
    return p
