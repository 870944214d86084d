"""Image size from the file header (Pillow, lazily imported)."""

from __future__ import annotations

from pathlib import Path

from tcli.errors import InputError


def size_of(path: Path, where: str) -> tuple[int, int]:
    """(width, height) read from the header only; InputError when it is not an image."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return int(im.width), int(im.height)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise InputError(f"{where}: {path.name} is not a readable image ({exc})") from None


def decode_check(path: str | Path) -> tuple[int, int] | str:
    """Fully decode ``path``: its (width, height), or the error text when it is corrupt."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()
            return int(im.width), int(im.height)
    except Exception as exc:  # any decoder failure means a corrupt file
        return f"{type(exc).__name__}: {exc}"
