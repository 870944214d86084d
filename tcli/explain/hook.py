"""The explanation at the end of a failed ``tc dev-run``: one call that never fails the run.

Used by :func:`tcli.devrun.follow.conclude` (``explain_after_run(...)``); ``events`` is anything
with ``line(text, style)`` and ``warn(text)`` (dev-run's event sink).
"""

from __future__ import annotations

from typing import Any, Protocol

from tcli.explain.diagnose import Explanation, ScoreRule, explain_lines


class _Lines(Protocol):
    def line(self, text: str, style: str | None = None) -> None: ...

    def warn(self, text: str) -> None: ...


def explanation_lines(result: Explanation) -> list[tuple[str, str | None]]:
    """(text, style) lines of the primary cause, as dev-run ends with them."""
    if not result.findings:
        return [("explain: no known failure recognised (docs/explain.md lists what tc "
                 "recognises)", "dim")]
    first = result.findings[0]
    out: list[tuple[str, str | None]] = [(f"explain: {first.title} [{first.id}]", "error"),
                                         (f"  why: {first.cause}", None)]
    out += [(f"  line {n}: {text}", None) for n, text in first.evidence]
    out.append((f"  fix: {first.fix}", None))
    out += [(f"  also: {f.title} [{f.id}]", "dim") for f in result.findings[1:]]
    return out


def explain_after_run(lines: list[str], state: Any, custom: Any, template: str,
                      model_problem: str | None, events: _Lines) -> Explanation | None:
    """Explain the failed run from its log and end state; one warning if that fails."""
    try:
        origin = f"templates/{template}/config/custom.json"
        result = explain_lines(
            lines, source="this run", exit_code=int(state.exit_code),
            oom_killed=bool(state.oom_killed), score=ScoreRule(custom.score_regexp, origin),
            model_problem=model_problem, model_filepath=str(custom.model_filepath))
    except Exception as exc:  # an explanation problem must never hide the failure itself
        events.warn(f"no explanation: {type(exc).__name__}: {str(exc)[:200]}")
        return None
    for text, style in explanation_lines(result):
        events.line(text, style=style)
    return result
