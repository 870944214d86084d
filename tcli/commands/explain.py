"""``tc explain``: say why a run failed and what to do, from its log or failure.json."""

from __future__ import annotations

from pathlib import Path

import typer

from tcli.errors import ChecksFailed, InputError

EPILOG = ("Exit code 0 when a known cause was recognised, 1 when none was, 2 for unusable "
          "input. Details: docs/explain.md")


def command(
    log: str = typer.Argument(None, metavar="[LOG]",
                              help="A log file, a failure.json, or - for stdin."),
    last: bool = typer.Option(False, "--last", help="Explain the project's last dev-run."),
    project: Path = typer.Option(Path("."), "--project", "-p", help="Project folder."),
    template: str = typer.Option(None, "--template", "-t", metavar="P/C/A",
                                 help="Template whose custom.json to use (several in the project)."),
    as_json: bool = typer.Option(False, "--json", help="Print the explanation as JSON."),
) -> None:
    """Explain a failed run: the recognised cause, the evidence line(s) and the fix.

    Reads a log file, stdin (-), a failure.json written by the train container, or with
    --last the project's last dev-run container. Inside a project the score regexp of
    custom.json is checked too.

    Example: docker logs CONTAINER 2>&1 | tc explain -
    """
    import sys

    from tcli.explain import gather
    from tcli.ui import explain_view, render

    if (log is None) == (not last):
        raise InputError("give a LOG file (or - for stdin), or --last, not both",
                         "e.g. tc explain train.log, or tc explain --last")
    score = gather.score_rule(project, template)
    if last:
        result = gather.from_last_run(project, template, score)
    elif log == "-":
        result = gather.from_stdin(sys.stdin.buffer, score)
    else:
        result = gather.from_file(Path(log), score)
    render.emit(result, as_json, explain_view.show)
    if not result.recognised:
        raise ChecksFailed("no known failure recognised")  # exit 1, already shown
