"""``tc dev-run --nodes K``: a local rehearsal of a K-node job, the way Kubeflow starts one.

K containers of the same image on the host network, each with the ``PET_*`` variables the
Kubeflow Trainer's torch runtime injects (master = node 0 on 127.0.0.1, a free port), the same
mock MinIO mounted in each, and one ``/train`` folder per node (node 0's is ``.tc/train``): the
run's :class:`~tcli.job.spec.JobSpec` translated by :func:`tcli.job.local.node_containers`.
Every node's log is streamed prefixed by its rank; the score and the model come from node 0.

One node dying must not leave the others hanging: the first node that ends with a non-zero
code starts a watchdog — the others get :data:`FAILURE_GRACE_S` seconds to fail on their own
(Gloo/NCCL notice a lost peer), then tc stops them. The run fails naming that node. On
success, failure and Ctrl-C the containers are removed (``--keep``: stopped, not removed).
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tcli.contract import TRAIN_MOUNT
from tcli.custom_json import CustomJson
from tcli.devrun.events import DevRunEvents
from tcli.devrun.follow import Running, conclude, feed_score
from tcli.devrun.interrupts import interrupted
from tcli.devrun.logs import LAST_LINES, LogWatcher
from tcli.devrun.naming import free_name
from tcli.devrun.summary import Summary
from tcli.errors import RunFailed
from tcli.job import local
from tcli.job.gpus import split_gpus
from tcli.job.local import DIST_TIMEOUT_S, LABEL_NODE, MASTER_ADDR, free_port, node_environment
from tcli.job.spec import JobSpec
from tcli.project import Project

__all__ = ["DIST_TIMEOUT_S", "FAILURE_GRACE_S", "LABEL_NODE", "MASTER_ADDR", "SETTLE_S", "Node",
           "NodesRun", "describe_end", "free_port", "node_environment", "run_nodes",
           "split_gpus"]

#: How long the other nodes may take to fail on their own after one node failed.
FAILURE_GRACE_S = 15.0
#: How long the other nodes may take to end after one node ended cleanly.
SETTLE_S = 120.0
_POLL_S = 0.5


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
    """What :func:`run_nodes` needs from :func:`tcli.devrun.launch.dev_run`."""

    client: Any
    project: Project
    custom: CustomJson
    summary: Summary
    spec: JobSpec  # the job, with its nodes and their GPUs (dev_run_spec)
    keep: bool = False

    @property
    def nodes(self) -> int:
        return self.spec.nodes

    @property
    def nproc(self) -> int:
        return self.spec.nproc_per_node or 1


def run_nodes(job: NodesRun, events: DevRunEvents) -> Summary:
    """Start the K containers, follow them all, conclude on node 0; see the module doc."""
    from tcli import engine

    port = free_port()
    nodes = [Node(rank, free_name(job.client, events, name, job.project))
             for rank, name in enumerate(local.node_names(job.spec))]
    runs = local.node_containers(job.spec, port=port, names=[node.name for node in nodes])
    job.summary.container = nodes[0].name
    since_wall = time.time()
    begun = time.monotonic()
    warned: set[str] = set()

    def warn_once(text: str) -> None:  # the same host warning (memlock) for every node
        if text not in warned:
            warned.add(text)
            events.warn(text)

    stopped = False  # by a Ctrl-C (interrupted() stopped the containers)
    try:
        for node, params in zip(nodes, runs, strict=True):
            for host, bind in params.volumes.items():  # each node's own /train folder
                if bind["bind"] == TRAIN_MOUNT:
                    Path(host).mkdir(parents=True, exist_ok=True)
            node.container, _ = engine.create_and_start(job.client, params, warn=warn_once)
        events.line(f"running {job.nodes} nodes × {job.nproc} process(es) on the host network "
                 f"(master {MASTER_ADDR}:{port}): {', '.join(n.name for n in nodes)}")
        watcher, cause, failed = _follow_all(job, nodes, events)
        node0 = nodes[0]
        run = Running(node0.container, job.project, job.custom, job.summary, begun, since_wall)
        # the explanation reads the node at fault (its own error), not node 0's echo of it
        culprit = (list(failed.last), failed.state) if failed is not None else None
        return conclude(run, watcher, node0.state, node0.ended_at or time.monotonic(), events,
                        cause=cause, explain_from=culprit)
    except KeyboardInterrupt:
        stopped = True
        raise interrupted([n.container for n in nodes if n.container is not None], job.keep,
                          events) from None
    finally:
        if not stopped:
            _remove_all(nodes, job.keep, events)


def _remove_all(nodes: list[Node], keep: bool, events: DevRunEvents) -> None:
    from tcli import engine

    for node in nodes:
        if node.container is None:
            continue
        engine.stop(node.container, timeout=2)
        if not keep:
            engine.remove(node.container)
    done = "stopped (kept: --keep)" if keep else "removed"
    count = sum(node.container is not None for node in nodes)
    events.line(f"{done} the {count} node containers", style="dim")


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
                events: DevRunEvents) -> tuple[LogWatcher, RunFailed | None, Node | None]:
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
                events.log(f"[node{rank}] {line}")
                if rank == 0:
                    feed_score(watcher, line, job.custom, events)
                continue
            open_logs -= 1
            node.state = engine.wait(node.container)
            node.ended_at = time.monotonic()
            first_ended = first_ended or node.ended_at
            if node.state.exit_code != 0 and first_failed is None:
                first_failed = node
                events.line(f"node {rank} ({node.name}) "
                         f"{describe_end(node.state.exit_code, node.state.oom_killed)}: the "
                         f"other nodes get {FAILURE_GRACE_S:.0f} s to end, then tc stops them",
                         style="error")
        bound = FAILURE_GRACE_S if first_failed is not None else SETTLE_S
        if not watchdog_fired and first_ended is not None and open_logs \
                and time.monotonic() - first_ended > bound:
            watchdog_fired = True
            for node in nodes:
                if node.state is None:
                    events.line(f"watchdog: stopping node {node.rank} ({node.name}), still running "
                             f"{bound:.0f} s after node {_first(nodes).rank} ended", style="warn")
                    engine.stop(node.container, timeout=2)
    return (watcher, *_cause(job, nodes, first_failed, events))


def _first(nodes: list[Node]) -> Node:
    ended = [n for n in nodes if n.ended_at is not None]
    return min(ended, key=lambda n: n.ended_at or 0.0)


def _cause(job: NodesRun, nodes: list[Node], failed: Node | None,
           events: DevRunEvents) -> tuple[RunFailed | None, Node | None]:
    """The failure that names the node at fault and that node, or (None, None) when every node
    ended cleanly."""
    if failed is None:
        # every node ended 0, unless the watchdog stopped one that lingered after node 0
        lingering = [n for n in nodes if n.state is not None and n.state.exit_code != 0]
        failed = lingering[0] if lingering else None
        if failed is None:
            return None, None
    events.line(f"last log lines of node {failed.rank} ({failed.name}):", style="error")
    for line in failed.last:
        events.line(f"  {line}")
    others = [f"node {n.rank} {describe_end(n.state.exit_code, n.state.oom_killed)}"
              for n in nodes if n is not failed and n.state is not None]
    after = f"; then {', '.join(others)}" if others else ""
    return RunFailed(
        f"node {failed.rank} of {job.nodes} ({failed.name}) "
        f"{describe_end(failed.state.exit_code, failed.state.oom_killed)}{after}",
        "its last log lines are above; rerun with --keep to inspect the containers "
        "(docker logs NAME)",
    ), failed
