"""The one model of a training job: :class:`JobSpec`, what every backend translates.

Built once (:func:`tcli.job.build.job_spec`) from the project, the options and the platform
contract; translated by a backend without adding facts of its own: one local container and K
local node containers (:mod:`tcli.job.local`), a Kubeflow TrainJob or PyTorchJob
(:mod:`tcli.scaleout.manifests`). torchx's ``AppDef`` → ``submit_dryrun`` is the model: a
backend's translation *is* its dry-run (what it would hand to Docker or to the cluster).

Ground rules of the model:

* everything is frozen (tuples, not lists or dicts): one spec can be translated many times;
* values are written the way the platform states them (``shm_size`` a Kubernetes quantity,
  ``8Gi``); a backend converts to its own spelling (Docker's ``8g``);
* host paths (``Mount.source``) only matter to the local backends; a cluster provides the
  dataset (s3fs inside the pod) and the output volume itself.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from tcli.contract import (
    DATASET_ID_KEY,
    IMAGE_ENTRYPOINT,
    MINIO_MOUNT,
    PLATFORM_IPC_MODE,
    PLATFORM_SHM_SIZE,
    PLATFORM_ULIMITS,
    TRAIN_MOUNT,
)

#: Roles of a mount (what the job uses it for).
DATASET = "dataset"  # the MinIO bucket on /minio
OUTPUT = "output"  # /train: model, metrics
SOURCE = "source"  # a read-only dataset folder that the dataset's symlinks point into (local)


@dataclass(frozen=True)
class Mount:
    """A folder the job sees at ``target``."""

    role: str
    target: str
    #: the host folder of a local run; None where the backend provides it (a cluster)
    source: str | None = None
    read_only: bool = False


@dataclass(frozen=True)
class NodeGpus:
    """The GPUs of one node."""

    #: how many; None: every GPU of the host (a local ``--gpus all``); 0: CPU only
    count: int | None
    #: the GPUs by id (a local run with ``--gpus 0,1``); empty: any ``count`` GPUs
    device_ids: tuple[str, ...] = ()

    @property
    def uses_gpu(self) -> bool:
        return self.count != 0


@dataclass(frozen=True)
class JobSpec:
    """One training job: what runs, with what, on how many nodes (see the module doc)."""

    #: the job's name (the container's, the TrainJob's); a backend may derive per-node names
    name: str
    image: str
    dataset_id: str
    #: one entry per node (``len(gpus) == nodes``)
    gpus: tuple[NodeGpus, ...]
    mounts: tuple[Mount, ...] = ()
    #: the environment every node gets, besides what a backend's launcher adds (PET_*, ...)
    env: tuple[tuple[str, str], ...] = ()
    entrypoint: tuple[str, ...] = IMAGE_ENTRYPOINT
    args: tuple[str, ...] = ()
    #: torchrun processes per node; None: the launcher's default (one, without torchrun)
    nproc_per_node: int | None = None
    shm_size: str = PLATFORM_SHM_SIZE
    ipc_mode: str = PLATFORM_IPC_MODE
    ulimits: tuple[tuple[str, int, int], ...] = PLATFORM_ULIMITS
    #: resources per node (request = limit); None: no limit (a local run's default)
    cpu: str | None = None
    memory: str | None = None
    #: a local run's network mode (None: Docker's default, as the platform)
    network: str | None = None
    labels: tuple[tuple[str, str], ...] = ()
    #: the template this job trains (PROVIDER/CATEGORY/ARCHITECTURE)
    template: str = ""
    output_dir: str = TRAIN_MOUNT
    dataset_dir: str = MINIO_MOUNT
    #: text files the image gets in its workspace before the job starts, (name, content): a
    #: sweep trial's ``train_config.json`` (:mod:`tcli.job.trial`); the platform bakes that file
    #: into the image, so a job without them runs the image's own
    workspace_files: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not self.gpus:
            raise ValueError("a job has at least one node")

    @property
    def nodes(self) -> int:
        return len(self.gpus)

    @property
    def environment(self) -> dict[str, str]:
        """``env`` as a dict (a fresh one: the spec stays frozen)."""
        return dict(self.env)

    def mount(self, role: str) -> Mount | None:
        """The first mount of ``role``, or None."""
        return next((m for m in self.mounts if m.role == role), None)

    def to_dict(self) -> dict[str, Any]:
        """The spec as JSON-ready data (``env`` and ``labels`` as objects)."""
        data = asdict(self)
        data.update(env=dict(self.env), labels=dict(self.labels), nodes=self.nodes)
        return data

    @property
    def gpus_per_node(self) -> int | None:
        """The GPUs of node 0 (every node has as many; None: all of the host's)."""
        return self.gpus[0].count


def base_env(dataset_id: str) -> tuple[tuple[str, str], ...]:
    """The environment the platform gives every train container (besides GPUs and S3)."""
    return ((DATASET_ID_KEY, dataset_id),)
