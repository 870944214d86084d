"""``tc model export``: the run's model in every format the platform serves, each measured.

A Typer sub-app (``app``); cli.py registers it under ``model``. The core is
:mod:`tcli.model.export` (features layer); the table is :mod:`tcli.ui.model_view`.
"""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(name="model", no_args_is_help=True,
                  help="Export a finished run's model to other formats and measure them.")

EPILOG = ("Formats: onnx (the run's model, the reference), onnx-fp16, onnx-int8 (calibrated on "
          "the train split), torchscript (made in the image: TC_EXPORT_TORCHSCRIPT=1 in "
          "docker/.env), triton (a model repository), tensorrt (the trtexec command to run on "
          "a GPU). Files: .tc/train/formats/. Guide: docs/model-export.md.")


@app.command("export", epilog=EPILOG)
def export_command(
    path: Path = typer.Argument(Path("."), help="Project folder (default: the current folder)."),
    template: str = typer.Option(None, "--template", "-t", metavar="P/C/A",
                                 help="Template PROVIDER/CATEGORY/ARCHITECTURE (when there "
                                      "are several)."),
    to: list[str] = typer.Option(None, "--to", help="Format to make (repeat it; default all): "
                                 "torchscript, onnx, onnx-fp16, onnx-int8, triton, tensorrt."),
    run_dir: Path = typer.Option(None, "--run", help="The run's output folder (default "
                                 ".tc/train, where tc dev-run leaves it)."),
    tolerance: float = typer.Option(0.02, "--tolerance", min=0.0, max=1.0,
                                    help="Mark a format whose metric is more than this below "
                                         "the original's."),
    as_json: bool = typer.Option(False, "--json", help="Print the table as JSON."),
) -> None:
    """Convert the last run's ONNX model and measure each format on the val split.

    For each format: the task metric (accuracy / mAP50 / mIoU) next to the original's, the
    max output difference, the file size and onnxruntime latency at batch 1 and 32.

    Example: tc model export --to onnx-fp16 --to onnx-int8
    """
    from tcli.model.export import ALL, export_formats
    from tcli.ui import model_view, render

    chosen = tuple(dict.fromkeys(t.lower() for t in to)) if to else ALL
    result = export_formats(path, template, chosen, run_dir, tolerance)
    render.emit(result, as_json, model_view.render_export)
