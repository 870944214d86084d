"""``tc report``: write .tc/report/index.html (curves, per-class numbers, ONNX predictions)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from tcli.ui import console, render

if TYPE_CHECKING:
    from tcli.report.core import ReportResult

EPILOG = "Examples: tc report  |  tc report my-container --json. Details: docs/report.md"


def command(
    path: Path = typer.Argument(Path("."), help="Project folder (default: the current folder)."),
    template: str = typer.Option(
        None, "--template", "-t", metavar="P/C/A",
        help="Template PROVIDER/CATEGORY/ARCHITECTURE (needed when the project has several).",
    ),
    dataset_id: int = typer.Option(
        None, "--dataset-id", help="Dataset of .tc/minio to take the val images from (default: the run's)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report's numbers as JSON."),
) -> None:
    """Write a report of the last tc dev-run: .tc/report/index.html with PNGs.

    Loss and metric per epoch (from metrics.jsonl), the exported ONNX model's predictions on
    the val images (onnxruntime on this machine): confusion matrix and precision/recall,
    per-class AP and precision-recall curves, or per-class IoU, a grid of val images with
    predictions over the ground truth, timings and ONNX parity.

    Example: tc report my-container
    """
    from tcli.report.core import write_report

    render.emit(write_report(path, template, dataset_id=dataset_id), as_json, _show)


def _show(result: ReportResult) -> None:
    con = console.out()
    model = result.data["model"]
    if model["status"] not in (None, "ok"):
        console.warn(f"ONNX model not used: {model['problem']}")
    fail = result.data.get("failure")
    if fail:
        found = fail["findings"][0] if fail["findings"] else None
        console.warn(f"the run failed (stage {fail['stage']}, exit {fail['exit_code']}): "
                     + (f"{found['title']} [{found['id']}]" if found else "cause not recognised")
                     + f"; the report shows why; tc explain {fail['file']}")
    rel = os.path.relpath(result.path)
    con.print(f"report: {rel} ({len(result.images)} images)", markup=False, highlight=False)
