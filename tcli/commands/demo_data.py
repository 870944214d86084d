"""tc demo-data: write a synthetic CVAT dataset in the platform's MinIO layout."""

from __future__ import annotations

from pathlib import Path

import typer

from tcli.contract import DATASET_TASKS, TASK_ALIASES
from tcli.ui import console

#: "classification, detection or segmentation (sklearn = classification)." from the registry
TASK_HELP = (", ".join(DATASET_TASKS[:-1]) + f" or {DATASET_TASKS[-1]} ("
             + ", ".join(f"{name} = {task}" for name, task in TASK_ALIASES.items()) + ").")
EPILOG = (
    "Writes DIR/datasets/<id>/demo_*.png and DIR/datasets/<id>/annotations/annotations.xml "
    "(CVAT for images 1.1). Use DIR as MINIO_ROOT (or mount it at /minio) with DATASET_ID=<id>."
)


def command(
    directory: Path = typer.Argument(..., metavar="DIR", help="Folder playing /minio."),
    task: str = typer.Option(
        ..., "--task", "-t",
        help=TASK_HELP,
    ),
    images: int | None = typer.Option(
        None, "--images", "-n", help="Number of images (default: 120, 100, 100 by task)."
    ),
    seed: int = typer.Option(0, "--seed", help="Random seed; the same seed writes the same files."),
    dataset_id: int = typer.Option(1, "--dataset-id", help="Dataset folder name under datasets/."),
    force: bool = typer.Option(
        False, "--force", help="Write even if the folder holds files tc demo-data did not write."
    ),
) -> None:
    """Write a synthetic demo dataset (coloured shapes with tags, boxes or polygons).

    Example: tc demo-data ./minio --task detection --images 60 --seed 1
    """
    from tcli.datasets.demo import write_demo_dataset

    target = write_demo_dataset(
        directory, task, images=images, seed=seed, dataset_id=dataset_id, force=force
    )
    count = len(list(target.glob("demo_*.png")))
    console.success(f"wrote {count} images and annotations/annotations.xml to {target}")
