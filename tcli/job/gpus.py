"""GPUs of a job: the plan from ``--gpus`` (and whether Docker has the NVIDIA runtime), and
its split over the nodes — the one place that decides which node gets which GPU."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tcli.errors import DockerError, InputError
from tcli.job.spec import NodeGpus

GPU_CHOICES = "auto, all, none or device ids like 0 or 0,1"


@dataclass(frozen=True)
class GpuPlan:
    """How a local container gets GPUs."""

    label: str  # "all", "0,1" or "none"
    device_ids: str | None  # None: every GPU; "" : no GPU
    visible_devices: str
    warning: str | None = None

    @property
    def uses_gpu(self) -> bool:
        return self.label != "none"

    def node_gpus(self) -> NodeGpus:
        """The plan as the job spec says it."""
        if not self.uses_gpu:
            return NodeGpus(0)
        if self.device_ids is None:
            return NodeGpus(None)
        ids = tuple(part.strip() for part in self.device_ids.split(",") if part.strip())
        return NodeGpus(len(ids), ids)


def plan_gpus(gpus: str, nvidia_runtime: bool) -> GpuPlan:
    """Decide GPUs from ``--gpus`` and whether the daemon has the NVIDIA runtime."""
    value = gpus.strip().lower()
    if value == "none":
        return GpuPlan("none", "", "void")
    if value == "auto":
        if nvidia_runtime:
            return GpuPlan("all", None, "all")
        return GpuPlan(
            "none", "", "void",
            "no NVIDIA container runtime in this Docker daemon: running on CPU "
            "(--gpus none silences this; 'tc doctor' shows how to enable GPUs)",
        )
    if value == "all" or re.fullmatch(r"\d+(,\d+)*", value):
        if not nvidia_runtime:
            raise DockerError(
                f"--gpus {gpus}: this Docker daemon has no NVIDIA container runtime",
                "install nvidia-container-toolkit ('tc doctor' explains), or use --gpus auto "
                "(falls back to CPU) or --gpus none",
            )
        if value == "all":
            return GpuPlan("all", None, "all")
        return GpuPlan(value, value, value)
    raise InputError(f"--gpus {gpus!r} is not valid", f"use {GPU_CHOICES}")


def split_gpus(gpu: GpuPlan, nodes: int, nproc: int) -> list[GpuPlan]:
    """One GPU plan per node: CPU for all, or ``nproc`` distinct GPUs for each node.

    Raises InputError when the GPUs cannot be split (every GPU would be shared by all nodes,
    which NCCL refuses, or the number of ids is not ``nodes`` × ``nproc``).
    """
    if not gpu.uses_gpu:
        return [gpu] * nodes
    if gpu.device_ids is None:
        raise InputError(
            f"--nodes {nodes} on GPUs: name the GPUs each node gets",
            f"pass --gpus with {nodes * nproc} ids (e.g. --gpus "
            f"{','.join(str(i) for i in range(nodes * nproc))}), or --gpus none for CPU nodes",
        )
    ids = [part.strip() for part in gpu.device_ids.split(",") if part.strip()]
    if len(ids) != nodes * nproc:
        raise InputError(
            f"--gpus {gpu.device_ids}: {len(ids)} GPU(s) for {nodes} nodes × {nproc} "
            f"process(es) each",
            f"pass exactly {nodes * nproc} GPU ids, one per process",
        )
    plans = []
    for rank in range(nodes):
        mine = ",".join(ids[rank * nproc:(rank + 1) * nproc])
        plans.append(GpuPlan(mine, mine, mine))
    return plans


def same_on_every_node(count: int, nodes: int) -> tuple[NodeGpus, ...]:
    """``count`` GPUs on each of ``nodes`` nodes (a cluster job: any GPUs of the node)."""
    return (NodeGpus(count),) * nodes


def split_for_trials(gpu: GpuPlan, parallel: int) -> list[GpuPlan]:
    """One GPU plan per concurrent sweep trial: the GPUs split evenly, none shared.

    Raises InputError when they cannot be (every GPU of the host without ids, fewer GPUs than
    trials, or a count that does not divide)."""
    if not gpu.uses_gpu or parallel == 1:
        return [gpu] * parallel
    if gpu.device_ids is None:
        raise InputError(f"--parallel {parallel} on GPUs: name the GPUs to split between trials",
                         f"pass --gpus with ids, e.g. --gpus {','.join(map(str, range(parallel)))}"
                         ", or --gpus none")
    ids = [part.strip() for part in gpu.device_ids.split(",") if part.strip()]
    if len(ids) < parallel or len(ids) % parallel:
        raise InputError(f"--parallel {parallel}: {len(ids)} GPU(s) ({gpu.device_ids}) do not "
                         f"split evenly between {parallel} trials",
                         "pass a multiple of --parallel GPU ids, or lower --parallel")
    each = len(ids) // parallel
    return [GpuPlan(",".join(ids[i * each:(i + 1) * each]), ",".join(ids[i * each:(i + 1) * each]),
                    ",".join(ids[i * each:(i + 1) * each])) for i in range(parallel)]
