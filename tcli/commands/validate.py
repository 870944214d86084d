"""``tc validate``: find what the platform would reject, before uploading."""

from __future__ import annotations

from pathlib import Path

import typer

from tcli.contract import DEFAULT_MAX_FILE_SIZE_TEXT
from tcli.errors import ValidationFailed

EPILOG = (
    "Examples: tc validate  |  tc validate my-container --strict  |  "
    "tc validate --zip dist/train-container-publish.zip --json. "
    "Exit codes: 0 no errors, 1 errors (or warnings with --strict), 2 unusable input."
)


def command(
    path: Path = typer.Argument(
        None, help="Project folder (default: the current folder; with --zip only, none)."
    ),
    zip_file: Path = typer.Option(
        None, "--zip", help="Also (or, without PATH, only) check a packaged ZIP."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the findings as JSON (for CI)."),
    strict: bool = typer.Option(False, "--strict", help="Warnings fail too (exit 1)."),
    log: Path = typer.Option(
        None, "--log",
        help="A recorded train.py log to test score_regexp on (instead of config/score_line.txt).",
    ),
    template: list[str] = typer.Option(
        None, "--template", "-t", help="Only this PROVIDER/CATEGORY/ARCHITECTURE (repeatable)."
    ),
    max_file_size: str = typer.Option(
        DEFAULT_MAX_FILE_SIZE_TEXT, "--max-file-size",
        help="Largest file tc package accepts (e.g. 10MB, 2MiB)."
    ),
) -> None:
    """Check a project (and/or a packaged ZIP) against everything the platform checks.

    Structure (validation/common.json, template.json), JSON Schemas, presets.json,
    custom.json, score_regexp against the score line train.py prints, model_filepath,
    args.py against every key that reaches train.py, splits, .env, Dockerfile and
    requirements. Prints a table of findings, or JSON with --json.

    Example: tc validate my-container --strict
    """
    from tcli import validate
    from tcli.ui import render
    from tcli.ui.findings import render_reports
    from tcli.units import parse_size

    limit = parse_size(max_file_size)
    reports = []
    if path is not None or zip_file is None:
        reports.append(validate.validate_project(
            path if path is not None else Path("."), templates=template or None, log=log,
            max_file_size=limit))
    if zip_file is not None:
        reports.append(validate.validate_zip(zip_file, log=log, max_file_size=limit))
    render.emit(validate.Verdict(reports, strict), as_json,
                lambda v: render_reports(v.reports, v.strict))
    errors = sum(len(r.errors) for r in reports)
    warnings = sum(len(r.warnings) for r in reports)
    if errors:
        raise ValidationFailed(
            f"validation failed: {errors} error{'s' if errors != 1 else ''}",
            "fix the findings above; each row says how",
        )
    if strict and warnings:
        raise ValidationFailed(
            f"validation failed: {warnings} warning{'s' if warnings != 1 else ''} with --strict",
            "fix the warnings, or run without --strict",
        )
