"""The report at the end of ``tc dev-run``: one call that never fails the run.

Used by the dev-run layer after the summary (``report_after_run(project.root, summary, events)``);
``events`` is anything with ``line(text)`` and ``warn(text)`` (dev-run's event sink).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Protocol


class _Lines(Protocol):
    def line(self, text: str, style: str | None = None) -> None: ...

    def warn(self, text: str) -> None: ...


def report_after_run(project: Path, summary: Any, events: _Lines) -> Path | None:
    """Write the report of the run just ended; one line where it is, or one warning why not."""
    try:
        from tcli.report.core import write_report

        if dataclasses.is_dataclass(summary) and not isinstance(summary, type):
            data = dataclasses.asdict(summary)
        else:
            data = dict(summary)
        template = data.get("template") if isinstance(data.get("template"), str) else None
        result = write_report(Path(project), template, summary=data)
    except Exception as exc:  # a report problem must never fail the run
        events.warn(f"report not written: {type(exc).__name__}: {str(exc)[:200]}")
        return None
    try:
        where = os.path.relpath(result.path)
    except ValueError:
        where = str(result.path)
    problem = result.data["model"].get("problem") if result.data["model"]["status"] != "ok" else None
    events.line(f"report     {where}" + (f" (ONNX model not used: {problem})" if problem else ""))
    return result.path
