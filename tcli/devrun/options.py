"""What ``tc dev-run`` was asked to do: the options and their checks (the GPU plan is
:mod:`tcli.job.gpus`, re-exported here)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tcli.datasets.demo import MAX_DATASET_ID, MAX_IMAGES
from tcli.errors import InputError
from tcli.job.gpus import GPU_CHOICES, GpuPlan, plan_gpus

__all__ = ["GPU_CHOICES", "MAX_NODES", "MAX_NPROC", "DevRunOptions", "GpuPlan", "check_options",
           "plan_gpus"]
MAX_NPROC = 64
MAX_NODES = 16


@dataclass
class DevRunOptions:
    """What ``tc dev-run`` was asked to do."""

    template: str | None = None
    dataset: Path | None = None
    demo: bool = False
    demo_images: int | None = None
    dataset_id: int | None = None
    gpus: str = "auto"
    base_image: str | None = None
    no_cache: bool = False
    keep: bool = False
    rerun: bool = False
    network: str | None = None
    memory: str | None = None
    verbose: bool = False
    nproc_per_node: int | None = None  # torchrun processes in the container (TC_NPROC_PER_NODE)
    nodes: int | None = None  # containers of a local multi-node rehearsal (Kubeflow's PET_*)
    dry_run: bool = False  # show the docker create parameters, run nothing


def check_options(opts: DevRunOptions) -> None:
    if opts.demo and opts.dataset is not None:
        raise InputError("--demo and --dataset exclude each other", "pass one of them")
    if opts.memory is not None and not re.fullmatch(r"[1-9][0-9]*[bkmgBKMG]?", opts.memory):
        raise InputError(f"--memory {opts.memory!r} is not a memory size",
                         "use a number with an optional unit b, k, m or g, e.g. 4g or 512m")
    if opts.dataset_id is not None and opts.dataset_id < 0:
        raise InputError(f"--dataset-id {opts.dataset_id}: must be 0 or more")
    if opts.dataset_id is not None and opts.dataset_id > MAX_DATASET_ID:
        raise InputError(f"--dataset-id {opts.dataset_id}: must be at most {MAX_DATASET_ID}")
    if opts.demo_images is not None and not 1 <= opts.demo_images <= MAX_IMAGES:
        raise InputError(f"--demo-images {opts.demo_images}: out of range", f"use 1..{MAX_IMAGES}")
    if opts.dataset is not None and not opts.dataset.expanduser().is_dir():
        what = "not a folder" if opts.dataset.expanduser().exists() else "no such folder"
        raise InputError(f"--dataset {opts.dataset}: {what}",
                         "pass the folder of a dataset (CVAT, COCO, YOLO, VOC or image folders)")
    if opts.nproc_per_node is not None and not 1 <= opts.nproc_per_node <= MAX_NPROC:
        raise InputError(f"--nproc-per-node {opts.nproc_per_node}: must be between 1 and "
                         f"{MAX_NPROC}", "one process per GPU, or N CPU processes (Gloo)")
    if opts.nodes is not None:
        if not 1 <= opts.nodes <= MAX_NODES:
            raise InputError(f"--nodes {opts.nodes}: must be between 1 and {MAX_NODES}",
                             "one container per node of the job you rehearse")
        if opts.network not in (None, "host"):
            raise InputError(
                f"--nodes needs the host network (the nodes meet at 127.0.0.1), not "
                f"--network {opts.network}", "leave --network out, or pass --network host")
    if opts.rerun:
        bad = [
            name for name, used in (
                ("--no-cache", opts.no_cache),
                ("--memory", opts.memory is not None),
                ("--nproc-per-node", opts.nproc_per_node is not None),
                ("--nodes", opts.nodes is not None),
                ("--dry-run", opts.dry_run),
            ) if used
        ]
        if bad:
            raise InputError(
                f"{', '.join(bad)} cannot be used with --rerun",
                "a rerun restarts the existing container with its image and flags",
            )
