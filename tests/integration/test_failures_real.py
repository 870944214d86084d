"""Real failing runs (docs/explain.md's table): the image's own docker-entrypoint.sh,
failure.py and torchrun_launcher.py in the torch stand-in, with a train.py that does the
failing thing, on the real Docker daemon. Each run must leave a failure.json (none after a
successful run) whose last lines tc explain recognises.

Only train.py, setup.py and config_to_args.py are stand-ins (a template's would need a dataset
and minutes of training); the containers get what tc dev-run gives them apart from the
variable under test (/dev/shm, a tmpfs, the PET_* variables of ``--nodes 2``). No fixed
sleeps: the killed-rank test waits for the ranks' ready lines.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from tcli.explain import gather
from tests.waits import SAFETY_NET, LineReader

COMMON = Path(__file__).resolve().parents[2] / "scaffolds" / "project" / "common"
RUNTIME = ("docker-entrypoint.sh", "failure.py", "torchrun_launcher.py", "mount-s3.sh")

SETUP = 'print("[setup] nothing to prepare (failure rehearsal)", flush=True)\n'
CONFIG_TO_ARGS = '''"""Stand-in for a template's config_to_args.py: train.py gets no arguments."""
import json
import os
import sys

if "--print" in sys.argv:
    print(json.dumps([]))
else:
    os.execvp(sys.executable, [sys.executable, "-u", "train.py"])
'''
TRAIN = '''"""Failure rehearsal: TC_REHEARSAL says which failure to produce."""
import os
import sys
import time

import torch

mode = os.environ["TC_REHEARSAL"]
print(f"[train] rehearsal {mode}", flush=True)
if mode == "shm":
    from torch.utils.data import DataLoader, Dataset

    class Big(Dataset):
        def __len__(self):
            return 64

        def __getitem__(self, i):
            return torch.zeros(256, 1024)  # 1 MiB per sample, passed through /dev/shm

    for batch in DataLoader(Big(), batch_size=4, num_workers=4):
        pass
elif mode == "disk":
    os.makedirs("/train/ckpt", exist_ok=True)
    for epoch in range(1, 100):
        torch.save(torch.zeros(1 << 20), f"/train/ckpt/epoch{epoch}.pt")  # 4 MiB each
        print(f"[train] epoch {epoch}: checkpoint saved", flush=True)
elif mode == "dist":
    import torch.distributed as dist

    dist.init_process_group("gloo")
    print(f"[train] rank {dist.get_rank()} of {dist.get_world_size()} ready", flush=True)
    t = torch.ones(1)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        dist.all_reduce(t)
        time.sleep(0.05)
elif mode == "oom":
    hog = []
    for step in range(1, 1000):
        hog.append(torch.ones(1 << 25))  # 128 MiB more each step, touched
        print(f"[train] step {step}: {step * 128} MiB held", flush=True)
sys.exit(0)
'''
#: run inside node 1: SIGKILL its train.py (not torchrun, not this script)
KILL_TRAIN = """
import os
me = os.getpid()
for pid in os.listdir('/proc'):
    if pid.isdigit() and int(pid) != me:
        try:
            cmd = open(f'/proc/{pid}/cmdline', 'rb').read().split(b'\\0')
        except OSError:
            continue
        if b'train.py' in cmd:
            print('killed', pid, flush=True)
            os.kill(int(pid), 9)
"""


@pytest.fixture()
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "workspace"
    ws.mkdir()
    for name in RUNTIME:
        shutil.copy2(COMMON / name, ws / name)
    (ws / "setup.py").write_text(SETUP)
    (ws / "config_to_args.py").write_text(CONFIG_TO_ARGS)
    (ws / "train.py").write_text(TRAIN)
    return ws


def _docker_run(name: str, ws: Path, mode: str, extra: list[str], env: dict[str, str] | None = None
                ) -> list[str]:
    argv = ["docker", "run", "--name", name, "--user", f"{os.getuid()}:{os.getgid()}",
            "-v", f"{ws}:/workspace:ro", "-w", "/workspace", "-e", "DATASET_ID=1",
            "-e", f"TC_REHEARSAL={mode}", *extra]
    for key, value in (env or {}).items():
        argv += ["-e", f"{key}={value}"]
    return [*argv, "--entrypoint", "bash", _image(), "/workspace/docker-entrypoint.sh"]


def _image() -> str:
    from tests.integration.conftest import BASE_IMAGE

    return BASE_IMAGE


def _remove(*names: str) -> None:
    for name in names:  # only the containers this test created, by their unique names
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)


def _explain(path: Path) -> Any:
    return gather.from_file(path, None)


@pytest.mark.parametrize(("mode", "extra", "code", "cause"), [
    ("shm", ["--network", "none", "--ipc", "private", "--shm-size", "2m"], 1, "shm-too-small"),
    ("disk", ["--network", "none", "--tmpfs", "/train/ckpt:rw,size=1m,mode=1777"], 1,
     "disk-full"),
    ("oom", ["--network", "none", "--memory", "600m", "--memory-swap", "600m"], 137,
     "container-oom-killed"),
    ("ok", ["--network", "none"], 0, None),
])
def test_failing_run_leaves_failure_json(base_image: str, workspace: Path, tmp_path: Path,
                                         mode: str, extra: list[str], code: int,
                                         cause: str | None) -> None:
    out = tmp_path / "train"
    out.mkdir()
    name = f"tc-rehearsal-{mode}-{uuid.uuid4().hex[:8]}"
    try:
        done = subprocess.run(_docker_run(name, workspace, mode, ["-v", f"{out}:/train", *extra]),
                              capture_output=True, text=True, timeout=SAFETY_NET, check=False)
    finally:
        _remove(name)
    log = done.stdout + done.stderr
    if cause is None:
        assert done.returncode == code, log
        assert not (out / "failure.json").exists()
        return
    assert done.returncode == code, log
    assert "[entrypoint] failure recorded in /train/failure.json" in log
    doc = json.loads((out / "failure.json").read_text())
    assert (doc["schema"], doc["stage"], doc["exit_code"]) == ("tc-failure/1", "train", code)
    result = _explain(out / "failure.json")
    assert result.findings[0].id == cause, result.to_json()


def test_full_output_folder_leaves_no_room_for_failure_json(base_image: str, workspace: Path
                                                          ) -> None:
    name = f"tc-rehearsal-full-{uuid.uuid4().hex[:8]}"
    try:
        done = subprocess.run(
            _docker_run(name, workspace, "disk",
                        ["--network", "none", "--tmpfs", "/train:rw,size=1m,mode=1777"]),
            capture_output=True, text=True, timeout=SAFETY_NET, check=False)
    finally:
        _remove(name)
    log = done.stdout + done.stderr
    assert done.returncode == 1, log
    # the runtime says so, and the log (what dev-run and tc explain --last read) is explained
    assert "[entrypoint] warning: failure.json not written: [Errno 28] No space left on device" \
        in log
    result = gather.from_bytes(log.encode(), "log", None)
    assert result.findings[0].id == "disk-full"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_killed_rank_of_two_nodes(base_image: str, workspace: Path, tmp_path: Path) -> None:
    port, tag = _free_port(), uuid.uuid4().hex[:8]
    names = [f"tc-rehearsal-node{rank}-{tag}" for rank in (0, 1)]
    outs = [tmp_path / f"train{rank}" for rank in (0, 1)]
    readers: list[LineReader] = []
    try:
        for rank, (name, out) in enumerate(zip(names, outs, strict=True)):
            out.mkdir()
            env = {"PET_NNODES": "2", "PET_NPROC_PER_NODE": "1", "PET_NODE_RANK": str(rank),
                   "PET_MASTER_ADDR": "127.0.0.1", "PET_MASTER_PORT": str(port),
                   "GLOO_SOCKET_IFNAME": "lo"}
            argv = _docker_run(name, workspace, "dist",
                               ["--network", "host", "-v", f"{out}:/train"], env)
            readers.append(LineReader(subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)))
        for rank, reader in enumerate(readers):
            reader.wait_for(f"[train] rank {rank} of 2 ready")
        kill = subprocess.run(["docker", "exec", names[1], "python", "-c", KILL_TRAIN],
                              capture_output=True, text=True, timeout=SAFETY_NET, check=False)
        assert kill.stdout.startswith("killed "), kill.stdout + kill.stderr
        for reader in readers:
            reader.finish()
        codes = [reader.proc.returncode for reader in readers]
    finally:
        _remove(*names)
    assert codes == [1, 137], [r.text() for r in readers]
    killed = json.loads((outs[1] / "failure.json").read_text())
    assert (killed["exit_code"], killed["signal"]) == (137, "SIGKILL")
    assert _explain(outs[1] / "failure.json").findings[0].id == "rank-died"
    survivor = _explain(outs[0] / "failure.json")
    assert [f.id for f in survivor.findings] == ["peer-rank-lost", "rank-died"]
