"""``tc dev-run --nodes K``: a local rehearsal of a K-node job, the way Kubeflow starts one.

K containers of the same image on the host network, each with the ``PET_*`` variables the
Kubeflow Trainer's torch runtime injects (master = node 0 on 127.0.0.1, a free port), the same
mock MinIO mounted in each, and one ``/train`` folder per node (node 0's is ``.tc/train``).
Every node's log is streamed prefixed by its rank; the score and the model come from node 0.

One node dying must not leave the others hanging: the first node that ends with a non-zero
code starts a watchdog — the others get :data:`FAILURE_GRACE_S` seconds to fail on their own
(Gloo/NCCL notice a lost peer), then tc stops them. The run fails naming that node. On
success, failure and Ctrl-C the containers are removed (``--keep``: stopped, not removed).
"""

from __future__ import annotations

import queue
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from tcli.contract import DATASET_ID_KEY
from tcli.custom_json import CustomJson
from tcli.devrun.events import DevRunEvents
from tcli.devrun.follow import Running, conclude, feed_score
from tcli.devrun.logs import LAST_LINES, LogWatcher
from tcli.devrun.minio import DatasetLayout, run_volumes, train_root
from tcli.devrun.naming import LABEL_DEV_RUN, free_name
from tcli.devrun.options import GpuPlan
from tcli.devrun.summary import Summary
from tcli.errors import InputError, RunFailed
from tcli.project import Project

MASTER_ADDR = "127.0.0.1"
#: How long the other nodes may take to fail on their own after one node failed.
FAILURE_GRACE_S = 15.0
#: How long the other nodes may take to end after one node ended cleanly.
SETTLE_S = 120.0
#: torch.distributed's timeout in the nodes (TC_DIST_TIMEOUT, read by tc_torch.py): a
#: collective that waits for a dead peer gives up after this many seconds.
DIST_TIMEOUT_S = 120
LABEL_NODE = "org.tc.node-rank"
_POLL_S = 0.5


def free_port(host: str = MASTER_ADDR) -> int:
    """A TCP port nobody listens on at ``host`` now (the rendezvous port of node 0)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def node_environment(*, nodes: int, rank: int, nproc: int, port: int, dataset_id: int,
                     visible_devices: str) -> dict[str, str]:
    """The environment of node ``rank``: the platform's variables plus Kubeflow's ``PET_*``."""
    return {
        DATASET_ID_KEY: str(dataset_id),
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


def describe_end(exit_code: int, oom_killed: bool) -> str:
    """``exited with code 137 (killed)`` and the like."""
    if oom_killed:
        return f"was OOM-killed (exit {exit_code})"
    why = {137: " (killed)", 143: " (terminated)", 130: " (interrupted)"}.get(exit_code, "")
    return f"exited with code {exit_code}{why}"


@dataclass
class Node:
    """One container of the job."""

    rank: int
    name: str
    container: Any = None
    state: Any = None  # engine.ExitState once it ended
    ended_at: float | None = None
    last: deque[str] = field(default_factory=lambda: deque(maxlen=LAST_LINES))


@dataclass
class NodesRun:
    """What :func:`run_nodes` needs from :func:`tcli.devrun.run.dev_run`."""

    client: Any
    project: Project
    custom: CustomJson
    summary: Summary
    layout: DatasetLayout
    gpus: list[GpuPlan]  # one per node (split_gpus)
    nodes: int
    nproc: int
    labels: dict[str, str]
    memory: str | None = None
    keep: bool = False
    started: list[Any] = field(default_factory=list)  # containers, for dev_run's Ctrl-C cleanup


def run_nodes(job: NodesRun, rep: DevRunEvents) -> Summary:
    """Start the K containers, follow them all, conclude on node 0; see the module doc."""
    from tcli import engine

    port = free_port()
    nodes = [Node(rank, free_name(job.client, rep, f"{job.summary.container}-node{rank}",
                                  job.project)) for rank in range(job.nodes)]
    job.summary.container = nodes[0].name
    since_wall = time.time()
    begun = time.monotonic()
    warned: set[str] = set()

    def warn_once(text: str) -> None:  # the same host warning (memlock) for every node
        if text not in warned:
            warned.add(text)
            rep.warn(text)

    interrupted = False
    try:
        for node, plan in zip(nodes, job.gpus, strict=True):
            node.container, _ = engine.create_and_start(
                job.client, _spec(job, node, plan, port), warn=warn_once)
            job.started.append(node.container)
        rep.line(f"running {job.nodes} nodes × {job.nproc} process(es) on the host network "
                 f"(master {MASTER_ADDR}:{port}): {', '.join(n.name for n in nodes)}")
        watcher, cause = _follow_all(job, nodes, rep)
        node0 = nodes[0]
        run = Running(node0.container, job.project, job.custom, job.summary, begun, since_wall)
        return conclude(run, watcher, node0.state, node0.ended_at or time.monotonic(), rep,
                        cause=cause)
    except KeyboardInterrupt:
        interrupted = True  # dev_run stops (and removes) every started container
        raise
    finally:
        if not interrupted:
            _remove_all(nodes, job.keep, rep)


def _remove_all(nodes: list[Node], keep: bool, rep: DevRunEvents) -> None:
    from tcli import engine

    for node in nodes:
        if node.container is None:
            continue
        engine.stop(node.container, timeout=2)
        if not keep:
            engine.remove(node.container)
    done = "stopped (kept: --keep)" if keep else "removed"
    count = sum(node.container is not None for node in nodes)
    rep.line(f"{done} the {count} node containers", style="dim")


def _spec(job: NodesRun, node: Node, plan: GpuPlan, port: int) -> Any:
    from tcli import engine

    train = train_root(job.project) if node.rank == 0 else (
        job.project.tc_dir / f"train-node{node.rank}")
    train.mkdir(parents=True, exist_ok=True)
    return engine.RunSpec(
        image=job.summary.image,
        name=node.name,
        environment=node_environment(
            nodes=job.nodes, rank=node.rank, nproc=job.nproc, port=port,
            dataset_id=job.layout.dataset_id, visible_devices=plan.visible_devices),
        volumes=run_volumes(job.project, job.layout, train),
        device_requests=engine.gpu_requests(plan.device_ids or "all") if plan.uses_gpu else [],
        network_mode="host",
        mem_limit=job.memory,
        labels={**job.labels, LABEL_DEV_RUN: "nodes", LABEL_NODE: str(node.rank)},
    )


def _pump(rank: int, container: Any, out: queue.Queue[tuple[int, str | None]]) -> None:
    """Thread: every log line of one node onto ``out``, then ``None`` when its log ends."""
    from tcli import engine

    try:
        for line in engine.stream_lines(container):
            out.put((rank, line))
    except Exception:
        pass
    finally:
        out.put((rank, None))


def _follow_all(job: NodesRun, nodes: list[Node],
                rep: DevRunEvents) -> tuple[LogWatcher, RunFailed | None]:
    """Stream every node's log until all ended (the watchdog stops stragglers)."""
    from tcli import engine

    lines: queue.Queue[tuple[int, str | None]] = queue.Queue()
    for node in nodes:
        threading.Thread(target=_pump, args=(node.rank, node.container, lines),
                         name=f"tc-node{node.rank}-log", daemon=True).start()
    watcher = LogWatcher(job.custom.score_regexp)
    first_failed: Node | None = None
    first_ended: float | None = None
    watchdog_fired = False
    open_logs = len(nodes)
    while open_logs:
        try:
            rank, line = lines.get(timeout=_POLL_S)
        except queue.Empty:
            rank, line = -1, None
        if rank >= 0:
            node = nodes[rank]
            if line is not None:
                node.last.append(line)
                rep.log(f"[node{rank}] {line}")
                if rank == 0:
                    feed_score(watcher, line, job.custom, rep)
                continue
            open_logs -= 1
            node.state = engine.wait(node.container)
            node.ended_at = time.monotonic()
            first_ended = first_ended or node.ended_at
            if node.state.exit_code != 0 and first_failed is None:
                first_failed = node
                rep.line(f"node {rank} ({node.name}) "
                         f"{describe_end(node.state.exit_code, node.state.oom_killed)}: the "
                         f"other nodes get {FAILURE_GRACE_S:.0f} s to end, then tc stops them",
                         style="error")
        bound = FAILURE_GRACE_S if first_failed is not None else SETTLE_S
        if not watchdog_fired and first_ended is not None and open_logs \
                and time.monotonic() - first_ended > bound:
            watchdog_fired = True
            for node in nodes:
                if node.state is None:
                    rep.line(f"watchdog: stopping node {node.rank} ({node.name}), still running "
                             f"{bound:.0f} s after node {_first(nodes).rank} ended", style="warn")
                    engine.stop(node.container, timeout=2)
    return watcher, _cause(job, nodes, first_failed, rep)


def _first(nodes: list[Node]) -> Node:
    ended = [n for n in nodes if n.ended_at is not None]
    return min(ended, key=lambda n: n.ended_at or 0.0)


def _cause(job: NodesRun, nodes: list[Node], failed: Node | None,
           rep: DevRunEvents) -> RunFailed | None:
    """The failure that names the node at fault, or None when every node ended cleanly."""
    if failed is None:
        # every node ended 0, unless the watchdog stopped one that lingered after node 0
        lingering = [n for n in nodes if n.state is not None and n.state.exit_code != 0]
        failed = lingering[0] if lingering else None
        if failed is None:
            return None
    rep.line(f"last log lines of node {failed.rank} ({failed.name}):", style="error")
    for line in failed.last:
        rep.line(f"  {line}")
    others = [f"node {n.rank} {describe_end(n.state.exit_code, n.state.oom_killed)}"
              for n in nodes if n is not failed and n.state is not None]
    after = f"; then {', '.join(others)}" if others else ""
    return RunFailed(
        f"node {failed.rank} of {job.nodes} ({failed.name}) "
        f"{describe_end(failed.state.exit_code, failed.state.oom_killed)}{after}",
        "its last log lines are above; rerun with --keep to inspect the containers "
        "(docker logs NAME)",
    )
