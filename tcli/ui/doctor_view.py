"""``tc doctor``'s checks for people: a mark, the name, the detail and the fix."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tcli.ui import console

if TYPE_CHECKING:
    from tcli.doctor import DoctorReport

_MARK = {"ok": "ok  ", "warn": "warn", "fail": "FAIL"}
_STYLE = {"ok": "ok", "warn": "warn", "fail": "error"}


def show(report: DoctorReport) -> None:
    """One line per check (and its fix), then the summary line."""
    con = console.out()
    for check in report.checks:
        con.print(
            f"{_MARK[check.status]}  {check.name:<11} {check.detail}",
            style=_STYLE[check.status], markup=False,
        )
        if check.fix:
            con.print(f"      {'':<11} fix: {check.fix}", markup=False)
    summary = "all checks passed" if report.ok else "some checks failed"
    warns = sum(1 for c in report.checks if c.status == "warn")
    con.print(f"{summary} ({warns} warnings)", markup=False)
