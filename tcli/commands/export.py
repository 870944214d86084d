"""``tc export``: a Kubeflow manifest (TrainJob v2 or PyTorchJob v1) for a project's template."""

from __future__ import annotations

from pathlib import Path

import typer

from tcli.contract import PLATFORM_SHM_SIZE
from tcli.ui import console, render

EPILOG = (
    "Examples: tc export trainjob --image reg.example.com/me/cls:1 --nodes 2 --dataset-id 42  |  "
    "tc export pytorchjob --image ... -o job.yaml  |  tc export katib --image ... --dataset-id 42 "
    "--trials 20 --param learning-rate=0.0001:0.1:log (a Katib Experiment: the search of "
    "tc sweep, trials as PyTorchJobs). The S3/OIDC settings come from a Secret "
    "(--secret, keys S3_HOST, S3_BUCKET_NAME, OID_ACCESS_TOKEN). Guide: docs/scale-out.md."
)


def command(
    kind: str = typer.Argument("trainjob", metavar="[KIND]",
                               help="trainjob (Kubeflow Trainer v2, default), pytorchjob "
                                    "(Training Operator v1) or katib (a Katib Experiment)."),
    path: Path = typer.Argument(Path("."), help="Project folder (default: the current folder)."),
    image: str = typer.Option(..., "--image", help="Image the cluster pulls (REGISTRY/NAME:TAG; "
                                                   "tc build --tag ... --push makes it)."),
    dataset_id: str = typer.Option(..., "--dataset-id", help="The platform's dataset id."),
    nodes: int = typer.Option(1, "--nodes", help="Training nodes (pods)."),
    gpus_per_node: int = typer.Option(1, "--gpus-per-node",
                                      help="GPUs per node, one process each (0: CPU, Gloo)."),
    procs_per_node: int = typer.Option(None, "--procs-per-node",
                                       help="Processes per node without GPUs (default 1)."),
    fmt: str = typer.Option(None, "--format", help="Same as KIND: trainjob or pytorchjob."),
    template: str = typer.Option(None, "--template", "-t",
                                 help="PROVIDER/CATEGORY/ARCHITECTURE (when there are several)."),
    name: str = typer.Option("", "--name", help="Job name (default tc-<project>-<architecture>)."),
    namespace: str = typer.Option(None, "--namespace", help="Kubernetes namespace."),
    secret: str = typer.Option("tc-s3", "--secret", help="Secret with the S3/OIDC settings."),
    cpu: str = typer.Option("8", "--cpu", help="CPUs per node (request = limit)."),
    memory: str = typer.Option("32Gi", "--memory", help="Memory per node (request = limit)."),
    shm_size: str = typer.Option(PLATFORM_SHM_SIZE, "--shm-size", help="Memory-backed /dev/shm per node."),
    output_pvc: str = typer.Option(None, "--output-pvc",
                                   help="PersistentVolumeClaim for /train (model, metrics); "
                                        "default an emptyDir that ends with the pod."),
    out: Path = typer.Option(None, "--output", "-o", help="Write to this file (default stdout)."),
    trials: int = typer.Option(None, "--trials", metavar="N", help="katib: maxTrialCount."),
    param: list[str] = typer.Option(
        None, "--param", metavar="SPEC",
        help="katib: narrow or add a parameter, as tc sweep --param (repeatable)."),
    sweep_file: Path = typer.Option(None, "--sweep-file", metavar="FILE",
                                    help="katib: a sweep file, as tc sweep's."),
    parallel: int = typer.Option(None, "--parallel", metavar="N",
                                 help="katib: parallelTrialCount (default 1)."),
    minimize: bool = typer.Option(False, "--minimize", help="katib: minimise the score."),
    trial_kind: str = typer.Option("pytorchjob", "--trial-kind",
                                   help="katib: the trial's job, pytorchjob or trainjob."),
) -> None:
    """Write a Kubeflow manifest that trains this template on NODES x GPUS processes.

    The manifest runs the image's entrypoint, which starts train.py under torchrun from the
    variables Kubeflow sets; it is loaded into the Kubeflow API models before it is written.

    Example: tc export trainjob --image 127.0.0.1:5000/me/cls:1 --nodes 2 --dataset-id 42
    """
    from tcli.errors import InputError
    from tcli.project import Project
    from tcli.scaleout import manifest_yaml as core
    from tcli.scaleout.manifests import JobOptions

    kinds = (*core.KINDS, "katib")
    if kind.lower() not in kinds and path == Path("."):
        kind, path = "trainjob", Path(kind)  # `tc export PATH`: the default kind
    chosen = (fmt or kind).lower()
    if fmt and kind.lower() not in (chosen, "trainjob"):
        raise InputError(f"KIND {kind!r} and --format {fmt!r} disagree", "pass one of them")
    if chosen not in kinds:
        raise InputError(f"unknown manifest kind {chosen!r}", "use trainjob, pytorchjob or katib")
    sweep_only = [flag for flag, used in (
        ("--trials", trials is not None), ("--param", bool(param)),
        ("--sweep-file", sweep_file is not None), ("--parallel", parallel is not None),
        ("--minimize", minimize)) if used]
    if sweep_only and chosen != "katib":
        raise InputError(f"{', '.join(sweep_only)}: only for tc export katib")
    project = Project.load(path)
    ref = project.select(template)
    opts = JobOptions(name=name, image=image, dataset_id=dataset_id, nodes=nodes,
                      gpus_per_node=gpus_per_node, procs_per_node=procs_per_node, secret=secret,
                      namespace=namespace, cpu=cpu, memory=memory, shm_size=shm_size,
                      output_pvc=output_pvc)
    if chosen == "katib":
        from tcli.sweep.katib import build_experiment

        doc = build_experiment(project, ref, opts, trial_kind=trial_kind.lower(),
                               params=list(param or []), sweep_file=sweep_file, trials=trials,
                               parallel=parallel, minimize=minimize)
    else:
        doc = core.build_manifest(project, ref, chosen, opts)
    text = core.to_yaml(doc)
    if out is None:
        render.print_document(text)
        return
    core.write_atomic(out, text)
    console.success(f"wrote {chosen} for {ref.key} -> {out}")
