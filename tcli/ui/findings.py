"""The findings table and summary lines of ``tc validate`` (shared with ``tc package``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich import box
from rich.console import Console
from rich.table import Table

from tcli.ui import console

if TYPE_CHECKING:
    from tcli.validate import Report


def render_reports(reports: list[Report], strict: bool, target: Console | None = None) -> None:
    """Print the findings table and a summary line (shared with tc package)."""
    con = target or console.out()
    findings = [f for r in reports for f in r.findings]
    if findings:
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, highlight=False)
        for name in ("Severity", "File", "Location", "Message", "Fix"):
            table.add_column(name, overflow="fold")
        for f in findings:
            style = "error" if f.severity == "error" else "warn"
            table.add_row(f"[{style}]{f.severity}[/]", f.file, f.location, f.message, f.fix)
        con.print(table)
    for r in reports:
        errors, warnings = len(r.errors), len(r.warnings)
        names = ", ".join(r.templates) or "none"
        line = (f"{r.kind} {r.path}: {errors} error{'s' if errors != 1 else ''}, "
                f"{warnings} warning{'s' if warnings != 1 else ''} (templates: {names})")
        style = "error" if r.failed(strict) else ("warn" if warnings else "ok")
        con.print(line, style=style, markup=False)
