"""Kubeflow manifests for one template's image: a Trainer v2 ``TrainJob`` (the
``torch-distributed`` runtime) and a Training Operator v1 ``PyTorchJob``.

Both run the image's own entrypoint (``/docker-entrypoint.sh``): it mounts the dataset bucket
with s3fs, runs setup.py once per node and starts train.py under torchrun from the ``PET_*``
variables Kubeflow injects (docs/scale-out.md). What a pod needs for that, and the platform's
``--shm-size 8g``, is written into the manifest:

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

from tcli.contract import DATASET_ID_PATTERN
from tcli.errors import InputError
from tcli.scaleout import imageref

TRAINJOB_API = "trainer.kubeflow.org/v1alpha1"
PYTORCHJOB_API = "kubeflow.org/v1"
ENTRYPOINT = ["/docker-entrypoint.sh"]
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
    shm_size: str = "8Gi"
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


# ----------------------------------------------------------------------------- pieces
def _env(opts: JobOptions, with_procs: bool) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [{"name": "DATASET_ID", "value": opts.dataset_id}]
    for key in SECRET_KEYS:
        env.append({"name": key, "valueFrom": {"secretKeyRef": {"name": opts.secret, "key": key}}})
    for key in OPTIONAL_SECRET_KEYS:
        env.append({"name": key, "valueFrom": {"secretKeyRef": {
            "name": opts.secret, "key": key, "optional": True}}})
    if with_procs:  # PyTorchJob: the entrypoint's own variables (TrainJob injects PET_*)
        env.append({"name": "TC_NPROC_PER_NODE", "value": str(opts.procs)})
        env.append({"name": "PET_NNODES", "value": str(opts.nodes)})
    return env


def _resources(opts: JobOptions) -> dict[str, Any]:
    amounts = {"cpu": opts.cpu, "memory": opts.memory}
    if opts.gpus_per_node:
        amounts["nvidia.com/gpu"] = str(opts.gpus_per_node)
    return {"limits": dict(amounts), "requests": dict(amounts)}


def _volumes(opts: JobOptions) -> list[dict[str, Any]]:
    train: dict[str, Any] = (
        {"name": "train", "persistentVolumeClaim": {"claimName": opts.output_pvc}}
        if opts.output_pvc else {"name": "train", "emptyDir": {}})
    return [
        {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": opts.shm_size}},
        {"name": "fuse", "hostPath": {"path": "/dev/fuse", "type": "CharDevice"}},
        train,
    ]


MOUNTS: list[dict[str, Any]] = [
    {"name": "dshm", "mountPath": "/dev/shm"},
    {"name": "fuse", "mountPath": "/dev/fuse"},
    {"name": "train", "mountPath": "/train"},
]
SECURITY: dict[str, Any] = {"capabilities": {"add": ["SYS_ADMIN"]}}


def _metadata(opts: JobOptions) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": opts.name}
    if opts.namespace:
        meta["namespace"] = opts.namespace
    labels = {"app.kubernetes.io/managed-by": "tc"}
    if opts.template:
        labels["tc.template"] = re.sub(r"[^A-Za-z0-9_.-]+", ".", opts.template)[:63].strip(".")
    meta["labels"] = labels
    return meta


# ----------------------------------------------------------------------------- manifests
def trainjob(opts: JobOptions) -> dict[str, Any]:
    """A Kubeflow Trainer v2 TrainJob on the ``torch-distributed`` ClusterTrainingRuntime."""
    opts.check()
    pod_spec = {
        "volumes": _volumes(opts),
        "containers": [{"name": "node", "securityContext": copy.deepcopy(SECURITY),
                        "volumeMounts": copy.deepcopy(MOUNTS)}],
    }
    return {
        "apiVersion": TRAINJOB_API,
        "kind": "TrainJob",
        "metadata": _metadata(opts),
        "spec": {
            "runtimeRef": {"apiGroup": "trainer.kubeflow.org", "kind": "ClusterTrainingRuntime",
                           "name": opts.runtime},
            "trainer": {
                "image": opts.image,
                "command": list(ENTRYPOINT),
                "numNodes": opts.nodes,
                "numProcPerNode": opts.procs,
                "resourcesPerNode": _resources(opts),
                "env": _env(opts, with_procs=False),
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
    container = {
        "name": "pytorch",
        "image": opts.image,
        "command": list(ENTRYPOINT),
        "env": _env(opts, with_procs=True),
        "resources": _resources(opts),
        "securityContext": copy.deepcopy(SECURITY),
        "volumeMounts": copy.deepcopy(MOUNTS),
    }

    def replica(count: int) -> dict[str, Any]:
        return {"replicas": count, "restartPolicy": "Never",
                "template": {"spec": {"containers": [copy.deepcopy(container)],
                                      "volumes": _volumes(opts)}}}

    specs = {"Master": replica(1)}
    if opts.nodes > 1:
        specs["Worker"] = replica(opts.nodes - 1)
    return {
        "apiVersion": PYTORCHJOB_API,
        "kind": "PyTorchJob",
        "metadata": _metadata(opts),
        "spec": {
            "nprocPerNode": str(opts.procs),
            "runPolicy": {"backoffLimit": 0, "cleanPodPolicy": "None"},
            "pytorchReplicaSpecs": specs,
        },
    }


FORMATS = {"trainjob": trainjob, "pytorchjob": pytorchjob}
