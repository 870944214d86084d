"""One renderer for a command's result: human text, or the result's JSON (``--json``).

Commands compute a result (a dataclass with ``to_json()``) and hand it here with the function
that draws it for people; nothing else decides between the two outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from tcli.ui import console


class JsonResult(Protocol):
    """What a command returns: data that can say itself as JSON."""

    def to_json(self) -> str: ...


R = TypeVar("R", bound=JsonResult)


def print_json(text: str, *, stderr: bool = False) -> None:
    """A JSON document on stdout (or stderr), untouched by markup or wrapping."""
    con = console.err() if stderr else console.out()
    con.print(text, markup=False, highlight=False, soft_wrap=True)


def emit(result: R, as_json: bool, human: Callable[[R], None]) -> None:
    """Print ``result`` as JSON with ``--json``, else with ``human``."""
    if as_json:
        print_json(result.to_json())
    else:
        human(result)
