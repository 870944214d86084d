"""Kubeflow manifests for one template's image: a Trainer v2 ``TrainJob`` (the
``torch-distributed`` runtime) and a Training Operator v1 ``PyTorchJob``.

Both are translations of one :class:`~tcli.job.spec.JobSpec` (:func:`spec_of` builds it from
the options through :func:`tcli.job.build.job_spec`, as dev-run builds its own), with the
cluster's settings (:class:`ClusterConfig`: Secret, namespace, output claim, runtime) beside it,
as torchx passes a scheduler its ``cfg``. Both run the image's own entrypoint
(``/docker-entrypoint.sh``): it mounts the dataset bucket with s3fs, runs setup.py once per node
and starts train.py under torchrun from the ``PET_*`` variables Kubeflow injects
(docs/scale-out.md). What a pod needs for that, and the spec's ``/dev/shm`` size, is written
into the manifest:

* credentials and endpoint from a Secret (``S3_HOST``, ``S3_BUCKET_NAME``,
  ``OID_ACCESS_TOKEN``, optional ``S3_STS_ENDPOINT``), never inline;
* ``/dev/fuse`` (hostPath) and the ``SYS_ADMIN`` capability for s3fs;
* ``/dev/shm`` as a memory-backed emptyDir; resource requests = limits per node;
* ``/train`` (model, metrics) on a PersistentVolumeClaim when one is named, else an emptyDir.

The manifests are plain dicts here; ``tcli.scaleout.kubeflow`` loads them into the Kubeflow
projects' API models (the ``kube`` extra).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from tcli.contract import DATASET_ID_PATTERN, PLATFORM_SHM_SIZE
from tcli.errors import InputError
from tcli.job.build import job_spec
from tcli.job.gpus import same_on_every_node
from tcli.job.spec import JobSpec
from tcli.scaleout import imageref

TRAINJOB_API = "trainer.kubeflow.org/v1alpha1"
PYTORCHJOB_API = "kubeflow.org/v1"
SECRET_KEYS = ("S3_HOST", "S3_BUCKET_NAME", "OID_ACCESS_TOKEN")
OPTIONAL_SECRET_KEYS = ("S3_STS_ENDPOINT",)
MAX_NODES = 1000
MAX_GPUS = 16
# option values are checked with fullmatch: `^...$` with re.match lets a trailing newline in
_DNS_LABEL = re.compile(r"[a-z]([-a-z0-9]{0,38}[a-z0-9])?")  # TrainJob names: <= 40 chars
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
_QUANTITY = re.compile(r"[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?")
_DATASET_ID = re.compile(DATASET_ID_PATTERN)


@dataclass(frozen=True)
class JobOptions:
    """What a manifest needs; ``check()`` raises InputError naming the first bad option."""

    name: str
    image: str
    dataset_id: str
    nodes: int = 1
    gpus_per_node: int = 1
    procs_per_node: int | None = None  # default: gpus_per_node, or 1 without GPUs
    secret: str = "tc-s3"
    namespace: str | None = None
    cpu: str = "8"
    memory: str = "32Gi"
    shm_size: str = PLATFORM_SHM_SIZE
    output_pvc: str | None = None
    runtime: str = "torch-distributed"
    template: str = ""

    @property
    def procs(self) -> int:
        if self.procs_per_node is not None:
            return self.procs_per_node
        return self.gpus_per_node or 1

    def check(self) -> JobOptions:
        if not 1 <= self.nodes <= MAX_NODES:
            raise InputError(f"--nodes {self.nodes}: must be between 1 and {MAX_NODES}",
                             "a job needs at least one node")
        if not 0 <= self.gpus_per_node <= MAX_GPUS:
            raise InputError(f"--gpus-per-node {self.gpus_per_node}: must be between 0 and "
                             f"{MAX_GPUS}", "0 trains on CPUs (Gloo)")
        if self.procs_per_node is not None and not 1 <= self.procs_per_node <= 256:
            raise InputError(f"--procs-per-node {self.procs_per_node}: must be between 1 and 256")
        if self.gpus_per_node and self.procs_per_node not in (None, self.gpus_per_node):
            raise InputError(f"--procs-per-node {self.procs_per_node} differs from "
                             f"--gpus-per-node {self.gpus_per_node}",
                             "with GPUs torchrun starts one process per GPU; leave it out")
        imageref.parse(self.image, "--image")
        if not _DATASET_ID.fullmatch(self.dataset_id):
            raise InputError(f"--dataset-id {self.dataset_id!r} is not a positive integer",
                             "the platform's dataset id, e.g. --dataset-id 42")
        if not _DNS_LABEL.fullmatch(self.name):
            raise InputError(f"--name {self.name!r} is not a Kubernetes name",
                             "lower-case letters, digits and '-', starting with a letter, "
                             "at most 40 characters")
        for option, value in (("--secret", self.secret), ("--namespace", self.namespace),
                              ("--output-pvc", self.output_pvc), ("--runtime", self.runtime)):
            if value is not None and not _DNS_SUBDOMAIN.fullmatch(value):
                raise InputError(f"{option} {value!r} is not a Kubernetes name",
                                 "lower-case letters, digits, '-' and '.'")
        for option, value in (("--cpu", self.cpu), ("--memory", self.memory),
                              ("--shm-size", self.shm_size)):
            if not _QUANTITY.fullmatch(value):
                raise InputError(f"{option} {value!r} is not a Kubernetes quantity",
                                 "e.g. --cpu 8, --memory 32Gi, --shm-size 8Gi")
        return self


def default_name(project_name: str, architecture: str) -> str:
    """``tc-<project>-<architecture>`` as a Kubernetes name (at most 40 characters)."""
    raw = f"tc-{project_name}-{architecture}".lower()
    name = re.sub(r"[^a-z0-9-]+", "-", raw).strip("-")
    name = re.sub(r"-{2,}", "-", name)[:40].rstrip("-")
    return name if name and name[0].isalpha() else f"tc-{name}"[:40].rstrip("-")


@dataclass(frozen=True)
class ClusterConfig:
    """What only a cluster needs besides the job (torchx: the scheduler's ``cfg``)."""

    secret: str = "tc-s3"
    namespace: str | None = None
    output_pvc: str | None = None
    runtime: str = "torch-distributed"


def spec_of(opts: JobOptions) -> JobSpec:
    """The job of ``tc export``: ``nodes`` nodes with ``gpus_per_node`` GPUs each."""
    return job_spec(name=opts.name, image=opts.image, dataset_id=opts.dataset_id,
                    gpus=same_on_every_node(opts.gpus_per_node, opts.nodes),
                    template=opts.template, nproc_per_node=opts.procs, shm_size=opts.shm_size,
                    cpu=opts.cpu, memory=opts.memory)


def cluster_of(opts: JobOptions) -> ClusterConfig:
    return ClusterConfig(secret=opts.secret, namespace=opts.namespace,
                         output_pvc=opts.output_pvc, runtime=opts.runtime)


# ----------------------------------------------------------------------------- pieces
def _env(spec: JobSpec, cfg: ClusterConfig, with_procs: bool) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [{"name": key, "value": value} for key, value in spec.env]
    for key in SECRET_KEYS:
        env.append({"name": key, "valueFrom": {"secretKeyRef": {"name": cfg.secret, "key": key}}})
    for key in OPTIONAL_SECRET_KEYS:
        env.append({"name": key, "valueFrom": {"secretKeyRef": {
            "name": cfg.secret, "key": key, "optional": True}}})
    if with_procs:  # PyTorchJob: the entrypoint's own variables (TrainJob injects PET_*)
        env.append({"name": "TC_NPROC_PER_NODE", "value": str(_procs(spec))})
        env.append({"name": "PET_NNODES", "value": str(spec.nodes)})
    return env


def _procs(spec: JobSpec) -> int:
    return spec.nproc_per_node or 1


def _resources(spec: JobSpec) -> dict[str, Any]:
    amounts = {key: value for key, value in (("cpu", spec.cpu), ("memory", spec.memory))
               if value is not None}
    gpus = spec.gpus_per_node
    if gpus is None:
        raise ValueError("a cluster node needs a number of GPUs, not 'all of the host'")
    if gpus:
        amounts["nvidia.com/gpu"] = str(gpus)
    return {"limits": dict(amounts), "requests": dict(amounts)}


def _volumes(spec: JobSpec, cfg: ClusterConfig) -> list[dict[str, Any]]:
    train: dict[str, Any] = (
        {"name": "train", "persistentVolumeClaim": {"claimName": cfg.output_pvc}}
        if cfg.output_pvc else {"name": "train", "emptyDir": {}})
    return [
        {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": spec.shm_size}},
        # the dataset mount: s3fs inside the pod (the entrypoint) needs /dev/fuse + SYS_ADMIN
        {"name": "fuse", "hostPath": {"path": "/dev/fuse", "type": "CharDevice"}},
        train,
    ]


def _mounts(spec: JobSpec) -> list[dict[str, Any]]:
    return [
        {"name": "dshm", "mountPath": "/dev/shm"},
        {"name": "fuse", "mountPath": "/dev/fuse"},
        {"name": "train", "mountPath": spec.output_dir},
    ]


SECURITY: dict[str, Any] = {"capabilities": {"add": ["SYS_ADMIN"]}}


def _metadata(spec: JobSpec, cfg: ClusterConfig) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": spec.name}
    if cfg.namespace:
        meta["namespace"] = cfg.namespace
    labels = {"app.kubernetes.io/managed-by": "tc"}
    if spec.template:
        labels["tc.template"] = re.sub(r"[^A-Za-z0-9_.-]+", ".", spec.template)[:63].strip(".")
    meta["labels"] = labels
    return meta


def _command(spec: JobSpec) -> dict[str, Any]:
    """The container's ``command`` (the image's entrypoint, named) and ``args`` when any."""
    return {"command": list(spec.entrypoint), **({"args": list(spec.args)} if spec.args else {})}


# ----------------------------------------------------------------------------- manifests
def trainjob(opts: JobOptions) -> dict[str, Any]:
    """A Kubeflow Trainer v2 TrainJob on the ``torch-distributed`` ClusterTrainingRuntime."""
    opts.check()
    return trainjob_of(spec_of(opts), cluster_of(opts))


def trainjob_of(spec: JobSpec, cfg: ClusterConfig) -> dict[str, Any]:
    """The TrainJob of ``spec`` (the translation; :func:`trainjob` checks the options first)."""
    pod_spec = {
        "volumes": _volumes(spec, cfg),
        "containers": [{"name": "node", "securityContext": copy.deepcopy(SECURITY),
                        "volumeMounts": _mounts(spec)}],
    }
    return {
        "apiVersion": TRAINJOB_API,
        "kind": "TrainJob",
        "metadata": _metadata(spec, cfg),
        "spec": {
            "runtimeRef": {"apiGroup": "trainer.kubeflow.org", "kind": "ClusterTrainingRuntime",
                           "name": cfg.runtime},
            "trainer": {
                "image": spec.image,
                **_command(spec),
                "numNodes": spec.nodes,
                "numProcPerNode": _procs(spec),
                "resourcesPerNode": _resources(spec),
                "env": _env(spec, cfg, with_procs=False),
            },
            "runtimePatches": [{
                "manager": "tc",
                "trainingRuntimeSpec": {"template": {"spec": {"replicatedJobs": [{
                    "name": "node",
                    "template": {"spec": {"template": {"spec": pod_spec}}},
                }]}}},
            }],
        },
    }


def pytorchjob(opts: JobOptions) -> dict[str, Any]:
    """A Training Operator v1 PyTorchJob: one Master and ``nodes - 1`` Workers."""
    opts.check()
    return pytorchjob_of(spec_of(opts), cluster_of(opts))


def pytorchjob_of(spec: JobSpec, cfg: ClusterConfig) -> dict[str, Any]:
    """The PyTorchJob of ``spec`` (the translation; :func:`pytorchjob` checks the options)."""
    container = {
        "name": "pytorch",
        "image": spec.image,
        **_command(spec),
        "env": _env(spec, cfg, with_procs=True),
        "resources": _resources(spec),
        "securityContext": copy.deepcopy(SECURITY),
        "volumeMounts": _mounts(spec),
    }

    def replica(count: int) -> dict[str, Any]:
        return {"replicas": count, "restartPolicy": "Never",
                "template": {"spec": {"containers": [copy.deepcopy(container)],
                                      "volumes": _volumes(spec, cfg)}}}

    specs = {"Master": replica(1)}
    if spec.nodes > 1:
        specs["Worker"] = replica(spec.nodes - 1)
    return {
        "apiVersion": PYTORCHJOB_API,
        "kind": "PyTorchJob",
        "metadata": _metadata(spec, cfg),
        "spec": {
            "nprocPerNode": str(_procs(spec)),
            "runPolicy": {"backoffLimit": 0, "cleanPodPolicy": "None"},
            "pytorchReplicaSpecs": specs,
        },
    }


FORMATS = {"trainjob": trainjob, "pytorchjob": pytorchjob}
#: The translations of a spec, by kind (what FORMATS does after checking the options).
TRANSLATIONS = {"trainjob": trainjob_of, "pytorchjob": pytorchjob_of}
