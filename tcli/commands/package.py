"""``tc package``: write the platform's train-container-publish.zip (reproducible)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from tcli.contract import DEFAULT_MAX_FILE_SIZE_TEXT
from tcli.errors import InputError, ValidationFailed
from tcli.ui import console

EPILOG = (
    "Examples: tc package --verify  |  tc package my-container --template P/C/A -o out.zip  |  "
    "tc package --all -o dist/. Layout: docs/package.md."
)


def command(
    path: Path = typer.Argument(Path("."), help="Project folder (default: the current folder)."),
    out: Path = typer.Option(
        None, "--output", "-o",
        help="ZIP file or folder (default: PATH/dist/train-container-publish.zip); "
             "with --all a folder (one PROVIDER/CATEGORY/ARCHITECTURE/ subfolder per ZIP).",
    ),
    template: str = typer.Option(
        None, "--template", "-t", help="PROVIDER/CATEGORY/ARCHITECTURE (when there are several)."
    ),
    all_templates: bool = typer.Option(False, "--all", help="One ZIP per template."),
    verify: bool = typer.Option(
        False, "--verify",
        help="Reopen the ZIP, check member names, re-validate and assemble the build directory.",
    ),
    no_validate: bool = typer.Option(
        False, "--no-validate", help="Package even when tc validate finds errors (not advised)."
    ),
    with_weights: bool = typer.Option(
        False, "--with-weights",
        help="Ship the files pinned in weights.lock (from the host cache) inside the ZIP; "
             "without it the ZIP holds only the lock and the platform's build downloads them.",
    ),
    max_file_size: str = typer.Option(
        DEFAULT_MAX_FILE_SIZE_TEXT, "--max-file-size",
        help="Refuse files larger than this (e.g. 10MB, 2MiB)."
    ),
) -> None:
    """Package one template as the platform's train-container-publish.zip.

    Runs tc validate first and refuses on errors. The ZIP holds the flat runtime files and
    PROVIDER/CATEGORY/ARCHITECTURE/{config,docker} without development-only files; the same
    sources give a byte-identical ZIP.

    Example: tc package my-container --verify
    """
    from tcli import validate
    from tcli.packaging.archive import output_path, write_zip
    from tcli.packaging.plan import plan
    from tcli.packaging.verify import verify as verify_zip
    from tcli.project import Project
    from tcli.ui.findings import render_reports
    from tcli.units import parse_size

    if template and all_templates:
        raise InputError("--template and --all exclude each other", "pass one of them")
    limit = parse_size(max_file_size)
    project = Project.load(path)
    refs = project.templates() if all_templates else [project.select(template)]
    if not refs:
        project.select(None)  # raises the 'no template' InputError
    keys = [r.key for r in refs]
    if no_validate:
        console.warn("--no-validate: packaging WITHOUT validation; the platform may reject "
                     "this ZIP or fail at train time")
    else:
        report = validate.validate_project(project.root, templates=keys, max_file_size=limit)
        if report.errors:
            render_reports([report], strict=False)
            n = len(report.errors)
            raise ValidationFailed(
                f"tc validate found {n} error{'s' if n != 1 else ''}; nothing was packaged",
                "fix them (see the table), or pass --no-validate to package anyway",
            )
    for ref in refs:
        found = plan(project, ref, max_file_size=limit, with_weights=with_weights)
        if len(found.refusals) == 1:
            only = found.refusals[0]
            raise ValidationFailed(
                f"refused to package {only.path.relative_to(project.root)}: {only.message}; "
                "nothing was written", only.fix)
        if found.refusals:
            for r in found.refusals:
                console.error(f"refusing {r.path.relative_to(project.root)}: {r.message}", r.fix)
            first = found.refusals[0].path.relative_to(project.root)
            raise ValidationFailed(
                f"refused to package {first}" + (
                    f" and {len(found.refusals) - 1} more file(s)" if len(found.refusals) > 1
                    else "") + "; nothing was written",
                "remove or fix the files named above",
            )
        target = output_path(project, ref, out, all_templates)
        verified: list[Any] = []

        def check(candidate: Path, target: Path = target, verified: list[Any] = verified) -> None:
            report, result = verify_zip(candidate, project, max_file_size=limit)
            if report.findings:
                render_reports([report], strict=False)
            if report.errors or result is None:
                n = len(report.errors)
                raise ValidationFailed(
                    f"--verify: the ZIP for {target} failed with {n} error{'s' if n != 1 else ''}; "
                    f"{target} was not written or replaced",
                    "fix the findings above and package again",
                )
            verified.append(result)

        written = write_zip(found.entries, target, check if verify else None)
        console.success(f"packaged {ref.key} -> {written.path}")
        console.print(f"  sha256 {written.sha256}", markup=False)
        console.print(f"  size   {written.size} bytes", markup=False)
        console.print(f"  files  {written.file_count}", markup=False)
        if verified:
            result = verified[0]
            console.success(
                f"  verified: member names safe, ZIP validates, build directory of "
                f"{len(result.build_files)} files holds every COPY source ({result.copy_sources})"
            )
