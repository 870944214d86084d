"""The :class:`~tcli.job.spec.JobSpec` of a dev-run: the options, the project, the dataset
laid out (or planned) in the mock MinIO and the GPU plan, through :func:`tcli.job.build.job_spec`.
A fresh run and ``--dry-run`` both build their spec here, and translate it with
:mod:`tcli.job.local`."""

from __future__ import annotations

from tcli.devrun.minio import DatasetLayout, minio_root, train_root
from tcli.devrun.naming import container_name, image_tag, labels
from tcli.devrun.options import DevRunOptions
from tcli.job import local
from tcli.job.build import job_spec
from tcli.job.gpus import GpuPlan, split_gpus
from tcli.job.spec import JobSpec
from tcli.project import Project, TemplateRef


def dev_run_spec(project: Project, template: TemplateRef, opts: DevRunOptions, gpu: GpuPlan,
                 layout: DatasetLayout, *, name: str | None = None) -> JobSpec:
    """The job of ``tc dev-run`` (``--nodes K``: K nodes, the GPUs split over them).

    Raises InputError when the GPUs cannot be split over the nodes.
    """
    nproc = opts.nproc_per_node
    plans = split_gpus(gpu, opts.nodes, nproc or 1) if opts.nodes else [gpu]
    return job_spec(
        name=name or container_name(project, template),
        image=image_tag(project, template),
        dataset_id=layout.dataset_id,
        gpus=[plan.node_gpus() for plan in plans],
        template=template.key,
        nproc_per_node=nproc,
        dataset_source=minio_root(project),
        output_source=train_root(project),
        read_only_sources={host: bind["bind"] for host, bind in layout.volumes.items()},
        memory=local.quantity(opts.memory) if opts.memory else None,
        network="host" if opts.nodes else opts.network,
        labels=labels(project, template),
    )
