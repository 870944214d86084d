"""Safe JSON loading for files from a project or an upload.

Refused, each with one line naming the file: more than ``max_bytes``, not UTF-8, nesting
deeper than ``max_depth`` (checked before parsing, so a 100k-deep file cannot exhaust the
stack), a duplicate key in an object (the platform's parser and ours might keep different
values), NaN/Infinity (not JSON), and syntax errors (with line and column).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tcli.errors import InputError

DEFAULT_MAX_BYTES = 5 * 1024 * 1024
DEFAULT_MAX_DEPTH = 64
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")


class JsonRefused(InputError):
    """A JSON file tc refuses to read (exit 2)."""


def nesting_depth(data: bytes) -> int:
    """Deepest bracket nesting of JSON ``data`` (brackets inside strings ignored)."""
    depth = best = 0
    for m in _BRACKETS.finditer(_STRINGS.sub(b'""', data)):
        if m.group() in (b"[", b"{"):
            depth += 1
            best = max(best, depth)
        else:
            depth -= 1
    return best


def _pairs(name: str) -> Any:
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                raise JsonRefused(f"{name}: duplicate key {key!r} in one object",
                                  "keep one of them: JSON readers disagree on which one wins")
            out[key] = value
        return out
    return hook


def _constant(name: str) -> Any:
    def hook(word: str) -> Any:
        raise JsonRefused(f"{name}: {word} is not valid JSON", "use a number or null")
    return hook


def loads(data: bytes | str, *, name: str = "JSON", max_bytes: int = DEFAULT_MAX_BYTES,
          max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """Parse ``data`` with the limits of the module docstring; ``name`` is used in messages."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if len(raw) > max_bytes:
        raise JsonRefused(f"{name}: {len(raw)} bytes, more than the {max_bytes} bytes tc reads",
                          "make the file smaller")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise JsonRefused(f"{name}: not UTF-8 text (byte {exc.start})", "save it as UTF-8") from None
    depth = nesting_depth(raw)
    if depth > max_depth:
        raise JsonRefused(f"{name}: nested {depth} levels deep, more than {max_depth}",
                          "flatten the structure")
    try:
        return json.loads(text, object_pairs_hook=_pairs(name), parse_constant=_constant(name))
    except json.JSONDecodeError as exc:
        raise JsonRefused(f"{name}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
                          "fix the syntax") from None
    except RecursionError:  # defensive: the depth scan should have caught it
        raise JsonRefused(f"{name}: nested too deeply", "flatten the structure") from None


def load(path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES, max_depth: int = DEFAULT_MAX_DEPTH,
         name: str | None = None) -> Any:
    """Read and parse the file at ``path`` (regular files only, at most ``max_bytes`` read)."""
    from tcli.safety import limits

    label = name or str(path)
    if not path.is_file():
        raise JsonRefused(f"{label}: not a regular file", "give a JSON file")
    try:
        raw = limits.read_bytes(path, max_bytes=max_bytes, what=label)
    except InputError as exc:
        raise JsonRefused(exc.message, exc.hint) from None
    return loads(raw, name=label, max_bytes=max_bytes, max_depth=max_depth)
