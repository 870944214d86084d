"""Regex matching with a time budget, for patterns that come from a project or an upload.

A pattern such as ``^(a+)+$`` backtracks exponentially on a near-miss; with Python's ``re`` that
hangs the process. This module compiles with the ``regex`` package (the same syntax for the
patterns the platform uses) and passes its ``timeout=`` to every match, so a catastrophic
pattern costs at most the budget and ends in :class:`RegexTimeout`, a clear InputError.
"""

from __future__ import annotations

import re
from typing import Any

import regex

from tcli.errors import InputError

#: Seconds one match may take (a score line is one short line; a sane pattern needs microseconds).
DEFAULT_BUDGET_S = 0.5
#: Longest pattern accepted (a score regexp is a few dozen characters).
MAX_PATTERN = 1000


class RegexTimeout(InputError):
    """Matching ran past its budget: the pattern backtracks catastrophically (exit 2)."""


class RegexInvalid(InputError):
    """The pattern does not compile (exit 2)."""


def compile_pattern(pattern: str, *, what: str = "regexp", flags: int = 0) -> Any:
    """Compile ``pattern`` (Python ``re`` syntax, via ``regex`` in V0 mode) or raise RegexInvalid."""
    if not isinstance(pattern, str):
        raise RegexInvalid(f"{what}: must be a string, not {type(pattern).__name__}")
    if len(pattern) > MAX_PATTERN:
        raise RegexInvalid(f"{what}: {len(pattern)} characters, more than {MAX_PATTERN}",
                           "use a shorter pattern")
    try:
        return regex.compile(pattern, flags | regex.VERSION0)
    except regex.error as exc:
        raise RegexInvalid(f"{what}: does not compile: {exc}", "fix the regular expression") from None
    except (RecursionError, OverflowError, MemoryError) as exc:
        raise RegexInvalid(f"{what}: too complex to compile ({type(exc).__name__})",
                           "simplify the regular expression") from None


def _compiled(pattern: str | Any, what: str) -> Any:
    if isinstance(pattern, str):
        return compile_pattern(pattern, what=what)
    if isinstance(pattern, re.Pattern):  # a stdlib pattern has no timeout: recompile it
        return compile_pattern(pattern.pattern, what=what, flags=pattern.flags)
    return pattern


def search(pattern: str | Any, text: str, *, budget_s: float = DEFAULT_BUDGET_S,
           what: str = "regexp") -> Any:
    """``pattern.search(text)`` within ``budget_s`` seconds; the match or None; RegexTimeout."""
    compiled = _compiled(pattern, what)
    try:
        return compiled.search(text, timeout=budget_s)
    except TimeoutError:
        raise RegexTimeout(
            f"{what}: matching {len(text)} characters took longer than {budget_s:g} s "
            "(catastrophic backtracking, e.g. nested quantifiers like (a+)+)",
            "rewrite the pattern without nested repetition") from None


def fullmatch(pattern: str | Any, text: str, *, budget_s: float = DEFAULT_BUDGET_S,
              what: str = "regexp") -> Any:
    """``pattern.fullmatch(text)`` within the budget (see :func:`search`)."""
    compiled = _compiled(pattern, what)
    try:
        return compiled.fullmatch(text, timeout=budget_s)
    except TimeoutError:
        raise RegexTimeout(f"{what}: matching took longer than {budget_s:g} s",
                           "rewrite the pattern without nested repetition") from None
