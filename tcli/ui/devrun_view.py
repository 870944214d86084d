"""``tc dev-run``'s progress for people: lines, the build spinner, the log, the summary.

:class:`DevRunView` implements :class:`tcli.devrun.events.DevRunEvents`. Progress goes to
stdout, or to stderr when stdout carries ``--json`` (then the summary is the JSON).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from rich.console import Console

from tcli.devrun.logs import short
from tcli.ui import console
from tcli.ui.render import print_json
from tcli.units import human_bytes

if TYPE_CHECKING:
    from tcli.devrun.plan import DevRunPlan
    from tcli.devrun.summary import Summary
    from tcli.engine import BuildEvent
    from tcli.project import Project


class DevRunView:
    """Progress output: stdout normally, stderr when stdout carries ``--json``."""

    def __init__(self, json_mode: bool = False, verbose: bool = False) -> None:
        self.json_mode = json_mode
        self.verbose = verbose
        self._status: Any = None

    @property
    def con(self) -> Console:
        return console.err() if self.json_mode else console.out()

    def line(self, text: str, style: str | None = None) -> None:
        self.con.print(text, style=style, markup=False)

    def log(self, text: str) -> None:
        self.con.print(text.rsplit("\r", 1)[-1], markup=False, style=None)

    def warn(self, text: str) -> None:
        console.warn(text)

    # ---- the build: step lines, and a spinner on a terminal (unless --verbose)
    def build_started(self) -> None:
        con = self.con
        if con.is_terminal and not self.verbose:
            self._status = con.status("building …")
            self._status.start()

    def build_event(self, event: BuildEvent) -> None:
        kind, step, text = event
        con, status = self.con, self._status
        if kind == "step":
            con.print(f"  {short(text, 110)}", markup=False)
            if status is not None:
                status.update(f"step {step.number}/{step.total}" if step else "building …")
        elif kind == "cached" and self.verbose:
            con.print("    (cached)", style="dim", markup=False)
        elif kind == "output":
            last = text.rsplit(chr(13), 1)[-1]
            if self.verbose:
                con.print(f"    {last}", style="dim", markup=False)
            elif status is not None and step is not None:
                status.update(f"step {step.number}/{step.total}: {short(last, 90)}")

    def build_finished(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

    def summary(self, summary: Summary, project: Project) -> None:
        """The summary: human-readable lines, or JSON on stdout with ``--json``."""
        if self.json_mode:
            print_json(summary.to_json())
            return
        d = summary.durations

        def sec(key: str) -> str:
            value = d.get(key)
            return f"{value:.1f} s" if isinstance(value, (int, float)) else "-"

        score = "-"
        if summary.score_raw is not None:
            shown = summary.score if summary.score is not None else summary.score_raw
            score = f"{summary.score_name} {shown}"
        if summary.model_file and summary.model_bytes is not None:
            rel = os.path.relpath(summary.model_file, project.root)
            model = f"{rel} ({human_bytes(summary.model_bytes)})"
        elif summary.model_bytes is not None:
            model = f"{summary.model_filepath} ({human_bytes(summary.model_bytes)}, in the container)"
        else:
            model = f"missing ({summary.model_filepath})"
        timing = f"setup {sec('setup')} · train {sec('train')}"
        if "build" in d:
            timing = f"build {sec('build')} · " + timing
        style = "ok" if summary.status == "succeeded" else "error"
        self.line(f"status     {summary.status} (exit {summary.exit_code})", style=style)
        self.line(f"score      {score}")
        self.line(f"model      {model}")
        self.line(f"durations  {timing}")
        if summary.nodes:
            self.line(f"containers {summary.nodes} nodes, node 0 {summary.container} "
                      "(a --nodes run keeps none, unless --keep)")
        else:
            self.line(f"container  {summary.container} (again with: tc dev-run --rerun)")


def show_plan(plan: DevRunPlan) -> None:
    """``tc dev-run --dry-run`` for people: the build, the dataset, one ``docker create`` per
    container (one flag a line, ready to paste), the notes."""
    import shlex

    from tcli.job.local import create_groups

    con = console.out()

    def line(text: str, style: str | None = None) -> None:
        con.print(text, style=style, markup=False, soft_wrap=True)

    line(f"tc dev-run --dry-run: {plan.template} ({plan.project})", style="info")
    args = " ".join(f"--build-arg {k}={v}" for k, v in plan.build_args.items())
    line(f"build      {plan.image} from the platform's build directory"
         + (f" ({args})" if args else ""))
    line(f"{plan.dataset}")
    for rank, run in enumerate(plan.containers):
        title = (f"node {rank} of {len(plan.containers)}" if len(plan.containers) > 1
                 else "container")
        line(f"{title}: {run.name}", style="info")
        groups = [shlex.join(group) for group in create_groups(run)]
        line("  " + " \\\n    ".join(groups))
    for note in plan.notes:
        line(f"note: {note}", style="dim")
    line("nothing was built, written or started (--dry-run does not contact Docker)",
         style="dim")
