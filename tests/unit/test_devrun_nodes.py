"""``tc dev-run --nodes K`` without Docker: the node environment, the GPU split, the option
checks, and the log/watchdog loop against fake containers (a node that dies makes tc stop the
others after the grace period and fail naming that node)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tcli.devrun import nodes as nodes_mod
from tcli.devrun.options import DevRunOptions, GpuPlan, check_options, plan_gpus
from tcli.errors import InputError, RunFailed
from tcli.job.build import job_spec
from tcli.job.spec import NodeGpus


def test_node_environment_is_what_kubeflow_sets() -> None:
    env = nodes_mod.node_environment(nodes=3, rank=2, nproc=4, port=29533, dataset_id=7,
                                     visible_devices="void")
    assert env == {
        "DATASET_ID": "7", "NVIDIA_VISIBLE_DEVICES": "void",
        "PET_NNODES": "3", "PET_NPROC_PER_NODE": "4", "PET_NODE_RANK": "2",
        "PET_MASTER_ADDR": "127.0.0.1", "PET_MASTER_PORT": "29533",
        "TC_DIST_TIMEOUT": str(nodes_mod.DIST_TIMEOUT_S),
        "GLOO_SOCKET_IFNAME": "lo", "NCCL_SOCKET_IFNAME": "lo",
    }


def test_free_port_is_bindable() -> None:
    import socket

    port = nodes_mod.free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_split_gpus() -> None:
    cpu = plan_gpus("none", nvidia_runtime=False)
    assert nodes_mod.split_gpus(cpu, 3, 2) == [cpu, cpu, cpu]
    plans = nodes_mod.split_gpus(GpuPlan("0,1,2,3", "0,1,2,3", "0,1,2,3"), 2, 2)
    assert [(p.device_ids, p.visible_devices) for p in plans] == [("0,1", "0,1"), ("2,3", "2,3")]
    with pytest.raises(InputError, match=r"--nodes 2 on GPUs: name the GPUs each node gets"):
        nodes_mod.split_gpus(GpuPlan("all", None, "all"), 2, 1)
    with pytest.raises(InputError, match=r"--gpus 0,1,2: 3 GPU\(s\) for 2 nodes × 1"):
        nodes_mod.split_gpus(GpuPlan("0,1,2", "0,1,2", "0,1,2"), 2, 1)


def test_describe_end() -> None:
    assert nodes_mod.describe_end(137, False) == "exited with code 137 (killed)"
    assert nodes_mod.describe_end(1, False) == "exited with code 1"
    assert nodes_mod.describe_end(137, True) == "was OOM-killed (exit 137)"


@pytest.mark.parametrize(("opts", "message"), [
    (DevRunOptions(nodes=0), r"--nodes 0: must be between 1 and 16"),
    (DevRunOptions(nodes=17), r"--nodes 17: must be between 1 and 16"),
    (DevRunOptions(nodes=2, network="bridge"),
     r"--nodes needs the host network .* not --network bridge"),
    (DevRunOptions(nodes=2, rerun=True), r"--nodes cannot be used with --rerun"),
])
def test_node_options_are_checked(opts: DevRunOptions, message: str) -> None:
    with pytest.raises(InputError, match=message):
        check_options(opts)


def test_host_network_is_accepted() -> None:
    check_options(DevRunOptions(nodes=2, network="host"))
    check_options(DevRunOptions(nodes=2))


# ---- the log/watchdog loop against fake containers -----------------------------------------

class FakeContainer:
    """Enough of docker-py's Container for engine.stream_lines/wait/stop."""

    def __init__(self, name: str, lines: list[str], code: int | None) -> None:
        self.name = name
        self._lines = lines
        self._code = code  # None: runs until stopped
        self._stopped = threading.Event()
        self.stopped_by_tc = False
        self.attrs: dict[str, Any] = {"State": {}}
        self.status = "running"

    def logs(self, **_: Any) -> Iterator[bytes]:
        for line in self._lines:
            yield (line + "\n").encode()
        if self._code is None:
            self._stopped.wait(30)
        self._finish(self._code if self._code is not None else 143)

    def _finish(self, code: int) -> None:
        self.attrs["State"] = {"ExitCode": code, "OOMKilled": False}
        self.status = "exited"

    def wait(self, **_: Any) -> dict[str, int]:
        return {"StatusCode": int(self.attrs["State"].get("ExitCode", -1))}

    def reload(self) -> None:
        pass

    def stop(self, timeout: int = 0) -> None:
        if self.status == "running":
            self.stopped_by_tc = True
        self._stopped.set()


class Recorder:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def line(self, text: str, style: str | None = None) -> None:
        self.lines.append(text)

    log = warn = line


def _job(tmp_path: Path) -> nodes_mod.NodesRun:
    from tcli.custom_json import CustomJson

    custom = CustomJson(model_filepath="/train/model.onnx", score_name="Acc.",
                        score_regexp=re.compile(r"^Score (\d\.\d+)$", re.M))
    spec = job_spec(name="c", image="i", dataset_id=1, gpus=[NodeGpus(0)] * 2)
    return nodes_mod.NodesRun(client=None, project=None, custom=custom,  # type: ignore[arg-type]
                              summary=None, spec=spec)  # type: ignore[arg-type]


def test_a_dead_node_makes_tc_stop_the_others_and_name_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nodes_mod, "FAILURE_GRACE_S", 0.5)
    node0 = FakeContainer("c-node0", ["epoch 1/3"], code=None)  # would hang on its own
    node1 = FakeContainer("c-node1", ["epoch 1/3", "Killed"], code=137)
    nodes = [nodes_mod.Node(0, "c-node0", node0), nodes_mod.Node(1, "c-node1", node1)]
    events = Recorder()
    began = time.monotonic()
    watcher, cause, failed = nodes_mod._follow_all(_job(tmp_path), nodes, events)
    assert time.monotonic() - began < 10
    # the node at fault, whose last lines and end the explanation reads
    assert failed is nodes[1] and list(failed.last) == ["epoch 1/3", "Killed"]
    assert failed.state.exit_code == 137
    assert node0.stopped_by_tc and not node1.stopped_by_tc
    assert isinstance(cause, RunFailed)
    assert cause.message == ("node 1 of 2 (c-node1) exited with code 137 (killed); "
                             "then node 0 exited with code 143 (terminated)")
    assert "[node1] Killed" in events.lines and "[node0] epoch 1/3" in events.lines
    assert any(line.startswith("watchdog: stopping node 0 (c-node0)") for line in events.lines)
    assert "  Killed" in events.lines  # node 1's last lines are shown
    assert watcher.final_score() is None


def test_clean_nodes_give_node_0s_score(tmp_path: Path) -> None:
    node0 = FakeContainer("c-node0", ["epoch 1/1", "Score 0.750"], code=0)
    node1 = FakeContainer("c-node1", ["epoch 1/1", "Score 0.999"], code=0)  # never read
    nodes = [nodes_mod.Node(0, "c-node0", node0), nodes_mod.Node(1, "c-node1", node1)]
    events = Recorder()
    watcher, cause, failed = nodes_mod._follow_all(_job(tmp_path), nodes, events)
    assert cause is None and failed is None
    assert watcher.final_score() == "0.750"
    assert not node0.stopped_by_tc and not node1.stopped_by_tc


def test_a_node_lingering_after_success_is_stopped_and_named(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nodes_mod, "SETTLE_S", 0.5)
    node0 = FakeContainer("c-node0", ["Score 0.5"], code=0)
    node1 = FakeContainer("c-node1", ["still here"], code=None)
    nodes = [nodes_mod.Node(0, "c-node0", node0), nodes_mod.Node(1, "c-node1", node1)]
    _, cause, failed = nodes_mod._follow_all(_job(tmp_path), nodes, Recorder())
    assert node1.stopped_by_tc and failed is nodes[1]
    assert cause is not None and cause.message.startswith(
        "node 1 of 2 (c-node1) exited with code 143 (terminated)")

