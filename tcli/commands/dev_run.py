"""``tc dev-run``: build a template's image and run it like the platform, on a local Docker."""

from __future__ import annotations

from pathlib import Path

import typer

EPILOG = (
    "Exit codes: 0 trained (score found, model written), 2 bad input, 3 Docker unavailable, "
    "4 build failed, 5 run failed/OOM-killed/no score/no model, 130 interrupted. "
    "Environment: TC_BASE_IMAGE (default of --base-image), TC_NETWORK (default of --network). "
    "Details: docs/dev-run.md"
)


def command(
    path: Path = typer.Argument(Path("."), help="The project folder (made by 'tc new')."),
    template: str = typer.Option(
        None, "--template", "-t", metavar="P/C/A",
        help="Template PROVIDER/CATEGORY/ARCHITECTURE (needed when the project has several).",
    ),
    dataset: Path = typer.Option(
        None, "--dataset", metavar="DIR",
        help="Your dataset: CVAT (samples + annotations/annotations.xml; linked, never copied), "
             "or COCO, YOLO, Pascal VOC, ImageFolder, a CVAT export (imported once into "
             ".tc/imports, cached by content).",
    ),
    demo: bool = typer.Option(False, "--demo", help="Use a synthetic demo dataset."),
    demo_images: int = typer.Option(
        None, "--demo-images", metavar="N", help="Number of demo images (default: per task)."
    ),
    dataset_id: int = typer.Option(
        None, "--dataset-id", metavar="N",
        help="DATASET_ID (default 1); with --rerun: switch the container to dataset N.",
    ),
    gpus: str = typer.Option(
        "auto", "--gpus",
        help="auto (all GPUs if the NVIDIA runtime exists, else CPU), all, none, or ids: 0 / 0,1.",
    ),
    base_image: str = typer.Option(
        None, "--base-image", envvar="TC_BASE_IMAGE", metavar="IMAGE",
        help="BASE_IMAGE build arg (default: the Dockerfile's, NVIDIA's PyTorch image).",
    ),
    no_cache: bool = typer.Option(False, "--no-cache", help="Rebuild every layer."),
    keep: bool = typer.Option(
        False, "--keep", help="On Ctrl-C, stop the container but do not remove it."
    ),
    rerun: bool = typer.Option(
        False, "--rerun",
        help="docker start the last finished container again (the platform's reruns).",
    ),
    network: str = typer.Option(
        None, "--network", envvar="TC_NETWORK", metavar="MODE",
        help="Network for build and run, e.g. host (default: Docker's default, as the platform).",
    ),
    memory: str = typer.Option(
        None, "--memory", metavar="SIZE", help="Memory limit of the container, e.g. 4g."
    ),
    nproc_per_node: int = typer.Option(
        None, "--nproc-per-node", metavar="N",
        help="Train data-parallel in N processes under torchrun (one per GPU, or N CPU "
             "processes with Gloo); docs/scale-out.md.",
    ),
    nodes: int = typer.Option(
        None, "--nodes", metavar="K",
        help="Rehearse a K-node job: K containers on the host network with Kubeflow's PET_* "
             "variables; score and model from node 0; docs/scale-out.md.",
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run",
        help="Show what would be built and the docker create parameters of each container; "
             "build, write and start nothing (no Docker needed).",
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show cache hits of the build."),
    as_json: bool = typer.Option(
        False, "--json", help="Print the summary as JSON on stdout (progress goes to stderr)."
    ),
) -> None:
    """Build and run a template on a local Docker engine, the way the platform does.

    Assembles the platform's build directory (no dataset in the build context), lays out
    a mock MinIO in .tc/minio (links, not copies), builds with streamed progress, runs
    with the platform's flags, streams the logs, reports the score (custom.json's
    score_regexp) and checks the model file in .tc/train.

    Example: tc dev-run --demo   (then: tc dev-run --rerun --dataset-id 2 --demo;
    tc dev-run --demo --dry-run shows the docker create parameters first)
    """
    from tcli.devrun import DevRunOptions, dev_run
    from tcli.ui.devrun_view import DevRunView

    opts = DevRunOptions(
        template=template,
        dataset=dataset,
        demo=demo,
        demo_images=demo_images,
        dataset_id=dataset_id,
        gpus=gpus,
        base_image=base_image or None,
        no_cache=no_cache,
        keep=keep,
        rerun=rerun,
        network=network or None,
        memory=memory,
        verbose=verbose,
        nproc_per_node=nproc_per_node,
        nodes=nodes,
        dry_run=dry_run,
    )
    if dry_run:
        from tcli.devrun.plan import plan_dev_run
        from tcli.ui import devrun_view, render

        render.emit(plan_dev_run(path, opts), as_json, devrun_view.show_plan)
        return
    dev_run(path, opts, DevRunView(json_mode=as_json, verbose=verbose))
