"""One renderer for a command's result: human text, or the result's JSON (``--json``).

Commands compute a result (a dataclass with ``to_json()``) and hand it here with the function
that draws it for people; nothing else decides between the two outputs, and no command prints
JSON itself (``tests/cli/test_json_cli.py`` runs every ``--json`` and reads its stdout).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Protocol, TypeVar

from tcli.ui import console


class JsonResult(Protocol):
    """What a command returns: data that can say itself as JSON."""

    def to_json(self) -> str: ...


R = TypeVar("R", bound=JsonResult)


def print_json(text: str, *, stderr: bool = False) -> None:
    """A JSON document on stdout (or stderr), as it is: no markup, wrapping or emoji codes
    (rich would turn a label ``:smile:`` into a smiley)."""
    stream = (console.err() if stderr else console.out()).file
    stream.write(text + "\n")
    stream.flush()


def print_data(doc: object) -> None:
    """A plain JSON-able value (dicts, lists, strings, numbers) as one JSON document on stdout."""
    print_json(json.dumps(doc, indent=2, ensure_ascii=False))


def print_document(text: str) -> None:
    """A document that is not JSON (``tc export``'s YAML) on stdout, exactly as it is."""
    stream = console.out().file
    stream.write(text)
    stream.flush()


def emit(result: R, as_json: bool, human: Callable[[R], None]) -> None:
    """Print ``result`` as JSON with ``--json``, else with ``human``."""
    if as_json:
        print_json(result.to_json())
    else:
        human(result)
