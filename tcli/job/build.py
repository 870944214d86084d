"""The one builder of a :class:`~tcli.job.spec.JobSpec`: the platform contract's facts (the
environment, the mounts, ``/dev/shm``, ipc, ulimits, the entrypoint) joined with what a caller
decided (image, dataset, nodes, GPUs, resources). ``tc dev-run`` (:mod:`tcli.devrun.job`) and
``tc export`` (:func:`tcli.scaleout.manifests.spec_of`) both come through here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from tcli.contract import MINIO_MOUNT, PLATFORM_SHM_SIZE, TRAIN_MOUNT
from tcli.job.spec import DATASET, OUTPUT, SOURCE, JobSpec, Mount, NodeGpus, base_env


def job_spec(
    *,
    name: str,
    image: str,
    dataset_id: int | str,
    gpus: Sequence[NodeGpus],
    template: str = "",
    nproc_per_node: int | None = None,
    dataset_source: Path | None = None,
    output_source: Path | None = None,
    read_only_sources: Mapping[str, str] | None = None,
    shm_size: str = PLATFORM_SHM_SIZE,
    cpu: str | None = None,
    memory: str | None = None,
    network: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> JobSpec:
    """The job: one :class:`NodeGpus` per node in ``gpus``.

    ``dataset_source`` / ``output_source`` are the host folders of a local run (the mock MinIO,
    ``.tc/train``); ``read_only_sources`` maps host folders to where the dataset's symlinks
    expect them (``/tc-sources/<id>``). A cluster job leaves them out.
    """
    mounts = [
        Mount(DATASET, MINIO_MOUNT, str(dataset_source) if dataset_source else None),
        Mount(OUTPUT, TRAIN_MOUNT, str(output_source) if output_source else None),
        *(Mount(SOURCE, target, host, read_only=True)
          for host, target in (read_only_sources or {}).items()),
    ]
    return JobSpec(
        name=name,
        image=image,
        dataset_id=str(dataset_id),
        gpus=tuple(gpus),
        mounts=tuple(mounts),
        env=base_env(str(dataset_id)),
        nproc_per_node=nproc_per_node,
        shm_size=shm_size,
        cpu=cpu,
        memory=memory,
        network=network,
        labels=tuple((labels or {}).items()),
        template=template,
    )
