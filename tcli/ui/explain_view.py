"""``tc explain``'s result for people: the cause, the evidence lines and the fix."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tcli.ui import console

if TYPE_CHECKING:
    from tcli.explain.diagnose import Explanation


def show(result: Explanation, *, stderr: bool = False) -> None:
    """The primary cause first; further recognised causes after it; or 'not recognised'."""
    con = console.err() if stderr else console.out()
    where = result.source
    if result.stage is not None:
        where += f", stage {result.stage}"
    if result.exit_code is not None:
        where += f", exit {result.exit_code}"
    if not result.findings:
        con.print(f"explain: no known failure recognised in {where}", style="warn", markup=False)
        con.print("  the last lines are the best clue; docs/explain.md lists what tc "
                  "recognises", markup=False)
        return
    for index, finding in enumerate(result.findings):
        label = "cause" if index == 0 else "also"
        con.print(f"{label}: {finding.title} [{finding.id}] ({where})",
                  style="error" if index == 0 else "warn", markup=False)
        con.print(f"  why: {finding.cause}", markup=False)
        for number, text in finding.evidence:
            con.print(f"  line {number}: {text}", markup=False, soft_wrap=True)
        con.print(f"  fix: {finding.fix}", markup=False)
