"""tc dataset import|inspect: bring any dataset into the platform's layout, and look at it.

A Typer sub-app (``app``); cli.py registers it under ``dataset``. The core lives in
:mod:`tcli.datasets` (features layer); the Rich tables in :mod:`tcli.ui.dataset_view`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from tcli.ui import console, render

if TYPE_CHECKING:
    from tcli.datasets.inspect import InspectResult

app = typer.Typer(
    name="dataset", no_args_is_help=True,
    help="Import a dataset (COCO, YOLO, VOC, ImageFolder, CVAT) into the platform's layout, "
         "or inspect one.",
)


@app.command("import", epilog="Writes DEST/datasets/<N>/<flat files> and "
             "annotations/annotations.xml (CVAT for images 1.1), annotations/mapping.json "
             "(flat name -> source path) and annotations/import-report.json (what was not "
             "carried). Train on it with MINIO_ROOT=DEST DATASET_ID=<N>.")
def import_command(
    src: Path = typer.Argument(..., metavar="SRC", help="Source dataset folder (or COCO .json)."),
    dest: Path = typer.Argument(..., metavar="DEST", help="Folder playing /minio."),
    fmt: str = typer.Option("auto", "--format", "-f",
                            help="auto, coco, yolo, voc, imagefolder or cvat."),
    dataset_id: int | None = typer.Option(None, "--id", help="Dataset id N (default: the "
                                          "first free one)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing DEST/datasets/<N> "
                               "(set aside; deleted only if a tc import wrote all of it)."),
    classes: str | None = typer.Option(None, "--classes", help="YOLO class names: a,b,c or "
                                       "a file with one name a line."),
    decode: bool = typer.Option(False, "--decode", help="Decode every image first (refuse "
                                "corrupt ones)."),
) -> None:
    """Import SRC into DEST/datasets/<N>/ (CVAT for images 1.1, the platform's layout).

    Example: tc dataset import ./coco ./minio --id 3
    """
    from tcli.datasets.importer import import_dataset

    res = import_dataset(src, dest, fmt, dataset_id, force, classes, decode=decode)
    if res.detected:
        console.info(f"format: {res.format} (detected: {res.detected})")
    else:
        console.info(f"format: {res.format}")
    how = f"{res.linked} hard-linked, {res.copied} copied"
    if res.renamed:
        how += f"; {res.renamed} renamed to avoid a name collision (annotations/mapping.json)"
    console.success(f"imported {res.images} images, {res.shapes} annotations, "
                    f"{len(res.labels)} labels into {res.target} ({how})")
    _subsets(res.subsets)
    if not res.shapes:
        console.warn("the source has no annotations: the images only")
    _losses(res.losses, res.unreferenced, res.unreferenced_examples)
    if res.kept_old is not None:
        console.warn(f"the previous {res.target.name}/ held files tc did not write or that "
                     f"changed since (an edited annotations.xml, a replaced image); kept as "
                     f"{res.kept_old}")
    console.print(f"train on it: MINIO_ROOT={res.target.parents[1]} DATASET_ID={res.dataset_id}",
                  markup=False)


def _subsets(subsets: dict[str | None, int]) -> None:
    named = {k: v for k, v in subsets.items() if k is not None}
    if not named:
        return
    text = ", ".join(f"{k} {v}" for k, v in sorted(named.items()))
    none = subsets.get(None, 0)
    if none:
        text += f"; {none} without a subset"
    console.print(f"subsets (the source's split, as CVAT subsets): {text}", markup=False)


def _losses(losses: dict[str, Any], unref: int, examples: list[str]) -> None:
    if not losses and not unref:
        console.print("nothing was left out", markup=False)
        return
    console.print("not carried into CVAT (annotations/import-report.json):", markup=False)
    for what, v in losses.items():
        ex = f"  e.g. {', '.join(v['examples'])}" if v["examples"] else ""
        console.print(f"  {v['count']:>7}  {what}{ex}", markup=False)
    if unref:
        console.print(f"  {unref:>7}  files not referenced by the annotations (not imported)"
                      f"  e.g. {', '.join(examples)}", markup=False)


def _show_inspection(res: InspectResult) -> None:
    from tcli.ui.dataset_view import render_inspection

    ins, pics = res.inspection, res.report
    render_inspection(ins)
    if ins.not_drawn:
        console.warn(f"samples.png: {len(ins.not_drawn)} sample(s) not drawn, e.g. "
                     f"{ins.not_drawn[0]}")
    if pics:
        console.success(f"report: {pics[-1]} ({', '.join(p.name for p in pics[:-1])})")


@app.command("inspect")
def inspect_command(
    directory: Path = typer.Argument(..., metavar="DIR", help="DIR/datasets/<N>, DIR with one "
                                     "dataset, or a source folder in any supported format."),
    report: Path | None = typer.Option(None, "--report", help="Write PNGs and index.html to "
                                       "this folder."),
    as_json: bool = typer.Option(False, "--json", help="Print the statistics as JSON."),
    decode: bool = typer.Option(False, "--decode", help="Decode every image: find corrupt "
                                "files and sizes that differ from the annotations."),
    fmt: str = typer.Option("auto", "--format", "-f", help="Format of a source folder."),
    classes: str | None = typer.Option(None, "--classes", help="YOLO class names."),
    duplicates: bool = typer.Option(True, "--duplicates/--no-duplicates", help="Look for exact "
                                    "(same bytes) and near duplicates (dHash within 6 of 64 "
                                    "bits), also across the source's subsets (reads every image)."),
) -> None:
    """Show images, labels, annotations per image, box sizes and problems of a dataset.

    Example: tc dataset inspect ./minio --report ./report
    """
    from tcli.datasets.inspect import InspectResult, inspect

    ins = inspect(directory, fmt, decode, classes, duplicates=duplicates)
    pics = []
    if report is not None:
        from tcli.datasets.pictures import write_pictures

        pics = write_pictures(ins, report)
    render.emit(InspectResult(ins, pics), as_json, _show_inspection)
    if decode and any(p.kind.startswith("corrupt") for p in ins.problems):
        from tcli.errors import InputError

        bad = next(p for p in ins.problems if p.kind.startswith("corrupt"))
        raise InputError(f"{bad.count} corrupt image(s), e.g. {bad.examples[0]}")

