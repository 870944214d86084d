"""``tc sweep``'s progress for people: the build (as dev-run's), then a table of trials that
grows one row per finished trial (a live table: plain rows, so a log or a pipe keeps it), and
at the end the whole table, the best config and its score against the default's.

:class:`SweepView` implements :class:`tcli.sweep.result.SweepEvents`; with ``--json`` the
progress goes to stderr and stdout carries only the result.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from tcli.ui.devrun_view import DevRunView

if TYPE_CHECKING:
    from tcli.sweep.core import DryRun
    from tcli.sweep.result import SweepResult, TrialRow


def _value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _params(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={_value(v)}" for k, v in params.items())


class SweepView(DevRunView):
    """Progress of a sweep (see the module doc)."""

    def __init__(self, json_mode: bool = False, verbose: bool = False) -> None:
        super().__init__(json_mode, verbose)
        self._header = False
        self._warned: set[str] = set()
        self._running: dict[int, TrialRow] = {}
        self._live: Any = None
        self._lock = threading.Lock()

    def trial_started(self, row: TrialRow) -> None:
        if self.verbose:
            self.con.print(f"trial {row.number} started: {_params(row.params)}", markup=False,
                           style="dim")
        with self._lock:  # trials report from their own threads (--parallel)
            self._running[row.number] = row
            self._show_running()

    def _show_running(self) -> None:
        """On a terminal, a status line under the table names the trials running now."""
        con = self.con
        if not con.is_terminal:
            return
        text = "running: " + ", ".join(f"trial {n}" for n in sorted(self._running)) + " …"
        if not self._running:
            if self._live is not None:
                self._live.stop()
                self._live = None
        elif self._live is None:
            self._live = con.status(text)
            self._live.start()
        else:
            self._live.update(text)

    def warn(self, text: str) -> None:
        if text not in self._warned:  # once per sweep, not once per trial
            self._warned.add(text)
            super().warn(text)

    def trial_finished(self, row: TrialRow) -> None:
        with self._lock:
            self._running.pop(row.number, None)
            self._show_running()
            if not self._header:
                self.con.print(HEADER, markup=False, style="bold")
                self._header = True
            self.con.print(row_line(row), markup=False)


def row_line(row: TrialRow) -> str:
    """One trial as a line of the table."""
    tag = " (default)" if row.baseline else ""
    note = f"  [{row.note}]" if row.note else ""
    return (f"{row.number:>5}  {row.state:<11} {_value(row.score):>8} {row.epochs:>6} "
            f"{_value(row.seconds):>7}  {_params(row.params)}{tag}{note}")


HEADER = f"{'trial':>5}  {'state':<11} {'score':>8} {'epochs':>6} {'seconds':>7}  parameters"


def show_result(res: SweepResult) -> None:
    """The whole table (every stored trial), the counts, the best trial and config against
    the default config's score, and the report's path."""
    from tcli.ui import console

    con = console.out()
    con.print(f"sweep {res.name} ({res.template}): every trial", markup=False, style="bold")
    con.print(HEADER, markup=False, style="bold")
    for row in res.trials:
        con.print(row_line(row), markup=False)
    counts = res.counts()
    con.print(f"{len(res.trials)} trials: "
              + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())), markup=False)
    if res.best is None:
        console.warn("no trial completed with a score")
    else:
        base = (f" (the default config: {_value(res.baseline_score)})"
                if res.baseline_score is not None else "")
        console.success(f"best: trial {res.best.number}, {res.score_name} "
                        f"{_value(res.best.score)}{base}")
        con.print(f"best config: {_params(res.best.params)}", markup=False)
        if res.applied:
            console.success(f"wrote the best config to {res.applied}")
        else:
            con.print(f"to write it into train_config.json: tc sweep --resume {res.name} "
                      "--apply", markup=False)
    if res.report:
        con.print(f"report: {res.report}", markup=False)


def show_dry_run(d: DryRun, as_json: bool) -> None:
    """``--dry-run``: the sweep that would run (space, first trial, storage) and trial 1's
    container: the ``docker create`` parameters and the train_config.json put into it."""
    import json
    from dataclasses import asdict

    from tcli.job.local import create_groups
    from tcli.ui import console
    from tcli.ui.render import print_json

    p, meta = d.plan, d.plan.meta
    if as_json:
        print_json(json.dumps({**meta.to_dict(), "baseline": p.baseline,
                               "storage": str(p.folder / "study.db"),
                               "first_trial": {"create": asdict(d.first),
                                               "train_config": d.first_config}}, indent=2))
        return
    con = console.out()
    con.print(f"tc sweep --dry-run: {meta.name} on {meta.template}, {meta.trials} trials, "
              f"{meta.direction} {meta.score_name}, {meta.parallel} at a time", markup=False)
    for param in meta.space.values():
        kind = "fixed" if param.fixed else param.kind
        con.print(f"  {param.name:<20} {kind:<12} {param.describe()}", markup=False)
    base = _params(p.baseline) if p.baseline else "(outside the space: not run)"
    con.print(f"trial 1 (train_config.json's values): {base}", markup=False)
    con.print("trial 1's container:", markup=False)
    groups = create_groups(d.first)
    for i, group in enumerate(groups):
        tail = " \\" if i < len(groups) - 1 else ""
        con.print(("  " if i == 0 else "    ") + " ".join(group) + tail, markup=False)
    for path, _text in d.first.files:
        con.print(f"  then {path} is written into it (the trial's values) before it starts",
                  markup=False)
    con.print(f"storage: {p.folder / 'study.db'}", markup=False)
    con.print("nothing was built, written or started (--dry-run does not contact Docker)",
              markup=False)
