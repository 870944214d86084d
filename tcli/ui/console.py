"""The one place tc talks to the terminal (Rich).

``NO_COLOR`` disables colour; output that is not a terminal gets no markup and a fixed
width so tests can assert exact text.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from rich.console import Console
from rich.theme import Theme

_THEME = Theme(
    {
        "info": "cyan",
        "ok": "green",
        "warn": "yellow",
        "error": "bold red",
        "dim": "dim",
    }
)


def _make(stderr: bool) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else int(os.environ.get("COLUMNS", "100"))
    return Console(
        file=stream,
        theme=_THEME,
        no_color="NO_COLOR" in os.environ,
        highlight=False,
        emoji=False,  # ":b:" in a user's value (--param x=a:b:c) is text, not an emoji code
        soft_wrap=not stream.isatty(),
        width=width,
    )


def out() -> Console:
    """A console on the current stdout (looked up each call so test runners can swap it)."""
    return _make(stderr=False)


def err() -> Console:
    """A console on the current stderr."""
    return _make(stderr=True)


def print(*objects: Any, **kwargs: Any) -> None:
    out().print(*objects, **kwargs)


def info(message: str) -> None:
    out().print(message, style="info", markup=False)


def success(message: str) -> None:
    out().print(message, style="ok", markup=False)


def warn(message: str) -> None:
    err().print(f"warning: {message}", style="warn", markup=False)


def error(message: str, hint: str | None = None) -> None:
    console = err()
    console.print(f"error: {message}", style="error", markup=False)
    if hint:
        console.print(f"hint: {hint}", markup=False)
