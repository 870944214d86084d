"""The local backends of a :class:`~tcli.job.spec.JobSpec`: what ``docker create`` gets.

* :func:`container` — one train container, as the platform runs it (``tc dev-run``);
* :func:`node_containers` — K containers on the host network, each with the ``PET_*``
  variables Kubeflow's torch runtime injects (``tc dev-run --nodes K``).

Each returns :class:`RunSpec` values, plain data that :mod:`tcli.engine` hands to the Docker
SDK; nothing here talks to Docker, so the translation is also the dry-run
(``tc dev-run --dry-run`` prints it, :func:`create_argv` spells it as a ``docker create``).
"""

from __future__ import annotations

import re
import shlex
import socket
from dataclasses import dataclass, field

from tcli.contract import PLATFORM_IPC_MODE, PLATFORM_SHM_SIZE, PLATFORM_ULIMITS, WORKSPACE
from tcli.job.spec import OUTPUT, JobSpec, NodeGpus, base_env

LABEL_PROJECT = "org.tc.project"
LABEL_TEMPLATE = "org.tc.template"
LABEL_DEV_RUN = "org.tc.dev-run"
LABEL_NODE = "org.tc.node-rank"
#: Where the local nodes meet (node 0, on the host network).
MASTER_ADDR = "127.0.0.1"
#: torch.distributed's timeout in the nodes (TC_DIST_TIMEOUT, read by tc_torch.py): a
#: collective that waits for a dead peer gives up after this many seconds.
DIST_TIMEOUT_S = 120

_BINARY = {"": 1, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
           "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
_QUANTITY = re.compile(r"([0-9]+)(Ki|Mi|Gi|Ti|k|M|G|T)?")


def docker_size(size: str) -> str:
    """A spec's size (a Kubernetes quantity) as Docker spells it: ``8Gi`` -> ``8g``,
    ``512Mi`` -> ``512m``, ``1G`` -> ``1000000000`` (Docker's ``g`` is binary)."""
    match = _QUANTITY.fullmatch(size)
    if not match:
        raise ValueError(f"not a whole-byte size: {size!r}")
    total = int(match.group(1)) * _BINARY[match.group(2) or ""]
    for unit, factor in (("g", 2**30), ("m", 2**20), ("k", 2**10)):
        if total % factor == 0:
            return f"{total // factor}{unit}"
    return str(total)


def quantity(size: str) -> str:
    """A Docker size as a Kubernetes quantity (how a spec holds sizes): ``4g`` -> ``4Gi``,
    ``512m`` -> ``512Mi``, ``100b`` -> ``100``; :func:`docker_size` turns it back."""
    match = re.fullmatch(r"([0-9]+)([bkmgBKMG]?)", size)
    if not match:
        return size  # already a quantity (or refused by the caller's checks)
    unit = match.group(2).lower()
    return match.group(1) + {"": "", "b": "", "k": "Ki", "m": "Mi", "g": "Gi"}[unit]


@dataclass(frozen=True)
class RunSpec:
    """How to create one train container: the ``docker create`` parameters."""

    image: str
    name: str
    environment: dict[str, str]
    volumes: dict[str, dict[str, str]]
    #: ``all``, device ids ``0,1``, or None (no GPU)
    gpus: str | None = None
    ulimits: tuple[tuple[str, int, int], ...] = PLATFORM_ULIMITS
    ipc_mode: str | None = PLATFORM_IPC_MODE
    shm_size: str | None = docker_size(PLATFORM_SHM_SIZE)
    network_mode: str | None = None
    mem_limit: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    #: arguments to the image's entrypoint (None: the image's CMD, as the platform runs it)
    command: list[str] | None = None
    #: files written into the created container before it starts, (absolute path, content)
    files: tuple[tuple[str, str], ...] = ()


def free_port(host: str = MASTER_ADDR) -> int:
    """A TCP port nobody listens on at ``host`` now (the rendezvous port of node 0)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _device_ids(gpus: NodeGpus, rank: int) -> tuple[str, ...]:
    """The GPUs of node ``rank`` by id; GPUs given only by count are numbered in node order."""
    if gpus.device_ids or not gpus.count:
        return gpus.device_ids
    return tuple(str(i) for i in range(rank * gpus.count, (rank + 1) * gpus.count))


def _gpu_flags(gpus: NodeGpus, rank: int) -> tuple[str | None, str]:
    """(the ``gpus`` of a RunSpec, ``NVIDIA_VISIBLE_DEVICES``)."""
    if not gpus.uses_gpu:
        return None, "void"
    if gpus.count is None:
        return "all", "all"
    ids = ",".join(_device_ids(gpus, rank))
    return ids, ids


def volumes(spec: JobSpec, rank: int = 0) -> dict[str, dict[str, str]]:
    """The binds of node ``rank``: node 0 writes to the output folder, node r to
    ``<output>-node<r>`` beside it (each node writes its own /train)."""
    binds: dict[str, dict[str, str]] = {}
    for mount in spec.mounts:
        if mount.source is None:
            raise ValueError(f"{mount.target}: a local run needs its host folder")
        source = mount.source
        if mount.role == OUTPUT and rank:
            source = f"{source}-node{rank}"
        binds[source] = {"bind": mount.target, "mode": "ro" if mount.read_only else "rw"}
    return binds


def _run(spec: JobSpec, *, name: str, environment: dict[str, str],
         binds: dict[str, dict[str, str]], gpus: str | None, network: str | None,
         labels: dict[str, str]) -> RunSpec:
    """A RunSpec with the spec's run flags (shm, ipc, ulimits, memory, args)."""
    return RunSpec(
        image=spec.image, name=name, environment=environment, volumes=binds, gpus=gpus,
        ulimits=spec.ulimits, ipc_mode=spec.ipc_mode, shm_size=docker_size(spec.shm_size),
        network_mode=network, mem_limit=docker_size(spec.memory) if spec.memory else None,
        labels=labels, command=list(spec.args) or None,
        files=tuple((f"{WORKSPACE}/{name}", text) for name, text in spec.workspace_files),
    )


def container(spec: JobSpec) -> RunSpec:
    """The one container of a single-node job (``tc dev-run``)."""
    if spec.nodes != 1:
        raise ValueError(f"{spec.nodes} nodes: use node_containers")
    gpus, visible = _gpu_flags(spec.gpus[0], 0)
    env = {**spec.environment, "NVIDIA_VISIBLE_DEVICES": visible}
    if spec.nproc_per_node:  # the entrypoint starts train.py under torchrun (docs/scale-out.md)
        env["TC_NPROC_PER_NODE"] = str(spec.nproc_per_node)
    return _run(spec, name=spec.name, environment=env, binds=volumes(spec), gpus=gpus,
                network=spec.network, labels={**dict(spec.labels), LABEL_DEV_RUN: "1"})


def node_environment(*, nodes: int, rank: int, nproc: int, port: int, dataset_id: int | str,
                     visible_devices: str) -> dict[str, str]:
    """The launcher's variables of node ``rank``: the platform's plus Kubeflow's ``PET_*``."""
    return {
        **dict(base_env(str(dataset_id))),
        "NVIDIA_VISIBLE_DEVICES": visible_devices,
        "PET_NNODES": str(nodes),
        "PET_NPROC_PER_NODE": str(nproc),
        "PET_NODE_RANK": str(rank),
        "PET_MASTER_ADDR": MASTER_ADDR,
        "PET_MASTER_PORT": str(port),
        "TC_DIST_TIMEOUT": str(DIST_TIMEOUT_S),
        # every node is on this host: Gloo and NCCL talk over the loopback interface
        "GLOO_SOCKET_IFNAME": "lo",
        "NCCL_SOCKET_IFNAME": "lo",
    }


def node_names(spec: JobSpec) -> list[str]:
    """``<name>-node<r>`` for every node (before tc frees a taken name)."""
    return [f"{spec.name}-node{rank}" for rank in range(spec.nodes)]


def node_containers(spec: JobSpec, *, port: int,
                    names: list[str] | None = None) -> list[RunSpec]:
    """The K containers of a K-node rehearsal (``tc dev-run --nodes K``), node 0 first.

    They share the host network (the nodes meet at :data:`MASTER_ADDR`:``port``) and carry
    no template label (``--rerun`` never picks one of them).
    """
    names = names or node_names(spec)
    base_labels = {k: v for k, v in spec.labels if k != LABEL_TEMPLATE}
    runs = []
    for rank, (name, gpus) in enumerate(zip(names, spec.gpus, strict=True)):
        flags, visible = _gpu_flags(gpus, rank)
        env = {**spec.environment, **node_environment(
            nodes=spec.nodes, rank=rank, nproc=spec.nproc_per_node or 1, port=port,
            dataset_id=spec.dataset_id, visible_devices=visible)}
        runs.append(_run(
            spec, name=name, environment=env, binds=volumes(spec, rank), gpus=flags,
            network="host",
            labels={**base_labels, LABEL_DEV_RUN: "nodes", LABEL_NODE: str(rank)}))
    return runs


def create_groups(run: RunSpec) -> list[list[str]]:
    """The ``docker create`` command line that makes the same container, one flag (with its
    value) per group: ``docker create``, the flags, then the image and its arguments."""
    groups = [["docker", "create"], ["--name", run.name]]
    if run.network_mode:
        groups.append(["--network", run.network_mode])
    if run.gpus:
        groups.append(["--gpus", "all" if run.gpus == "all" else f'"device={run.gpus}"'])
    if run.ipc_mode:
        groups.append(["--ipc", run.ipc_mode])
    if run.shm_size:
        groups.append(["--shm-size", run.shm_size])
    groups += [["--ulimit", f"{name}={soft}:{hard}"] for name, soft, hard in run.ulimits]
    if run.mem_limit:
        groups.append(["--memory", run.mem_limit, "--memory-swap", run.mem_limit])
    groups += [["-e", f"{key}={value}"] for key, value in run.environment.items()]
    groups += [["-v", f"{source}:{bind['bind']}:{bind['mode']}"]
               for source, bind in run.volumes.items()]
    groups += [["--label", f"{key}={value}"] for key, value in run.labels.items()]
    groups.append([run.image, *(run.command or [])])
    return groups


def create_argv(run: RunSpec) -> list[str]:
    """:func:`create_groups` as one argument list."""
    return [arg for group in create_groups(run) for arg in group]


def create_line(run: RunSpec) -> str:
    """:func:`create_argv` as one shell line."""
    return shlex.join(create_argv(run))
