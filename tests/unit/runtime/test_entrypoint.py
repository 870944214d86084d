"""docker-entrypoint.sh outside Docker: .env as data, DATASET_ID switch, exit codes, SIGTERM."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tcli.contract import RUNTIME_FILES
from tests.waits import SAFETY_NET, LineReader, wait_until

from .conftest import COMMON, REPO
from .helpers import make_dataset

SETUP = REPO / "scaffolds/project/templates/{{provider}}/{{category}}/{{architecture}}/docker/setup.py.jinja"
TRAIN = '''import json, os, sys
from pathlib import Path
import argparse
p = argparse.ArgumentParser()
for o in ("--output-dir", "--images-dir", "--labels-dir", "--epochs", "--note"):
    p.add_argument(o)
a = p.parse_args()
coco = json.loads((Path(a.labels_dir) / "train" / "labels.json").read_text())
Path(a.output_dir).mkdir(parents=True, exist_ok=True)
(Path(a.output_dir) / "run.json").write_text(json.dumps({"argv": sys.argv[1:], "pid": os.getpid(),
    "FOO": os.environ.get("FOO"), "images": [i["file_name"] for i in coco["images"]]}))
if os.environ.get("SLEEP"):
    print("ready", flush=True)
    import time; time.sleep(600)  # until the test's signal (never reached: not a clock)
sys.exit(int(os.environ.get("TRAIN_EXIT", "0")))
'''
ARGS = '''import argparse
def build_parser():
    p = argparse.ArgumentParser()
    for o in ("--output-dir", "--images-dir", "--labels-dir", "--epochs", "--note"):
        p.add_argument(o)
    return p
'''


@pytest.fixture()
def ws(tmp_path: Path) -> Path:
    w = tmp_path / "workspace"
    w.mkdir()
    # the runtime modules, flat as in the image (failure.py has its own tests: without it the
    # entrypoint keeps its output as it is)
    for f, rel in RUNTIME_FILES.items():
        if f.endswith(".py") and f != "failure.py":
            (w / f).write_text((COMMON.parent / rel).read_text())
    (w / "setup.py").write_text(SETUP.read_text().replace("{{ template }}", "classification"))
    (w / "train.py").write_text(TRAIN)
    (w / "args.py").write_text(ARGS)
    (w / "train_config.json").write_text(json.dumps(
        {"epochs": 1, "note": "; rm -rf / $(id)", "train-split": 0.5, "test-split": 0.5}))
    (w / "presets.json").write_text(json.dumps(
        {"output-dir": "/train", "images-dir": "/datasets/images", "labels-dir": "/datasets/labels"}))
    (w / ".env").write_text("# static\nPYTHONUNBUFFERED=1\nFOO=\"$(touch pwned) x\"\n")
    make_dataset(tmp_path / "minio", 7, 6, prefix="a")
    make_dataset(tmp_path / "minio", 8, 4, prefix="b")
    return w


def _env(ws: Path, **extra: str) -> dict[str, str]:
    root = ws.parent
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "WORKSPACE": str(ws),
           "MINIO_ROOT": str(root / "minio"), "DATASETS_ROOT": str(root / "datasets"),
           "TRAIN_ROOT": str(root / "train"), "PYTHON": sys.executable, "DATASET_ID": "7"}
    env.update(extra)
    return env


def _run(ws: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(COMMON / "docker-entrypoint.sh")], env=_env(ws, **extra),
                          cwd=ws, capture_output=True, text=True, timeout=SAFETY_NET)


def test_env_rewrite_switches_dataset_on_rerun(ws: Path) -> None:
    r1 = _run(ws)
    assert r1.returncode == 0, r1.stdout + r1.stderr
    run = json.loads((ws.parent / "train/run.json").read_text())
    assert all(n.startswith("a") for n in run["images"])
    assert run["FOO"] == "$(touch pwned) x" and not (ws / "pwned").exists()
    assert "; rm -rf / $(id)" in run["argv"]
    assert r1.stdout.count("S3 mount skipped") == 1
    assert "Error" not in r1.stdout + r1.stderr
    # the platform rewrites .env before `docker start`; the container env still says 7
    (ws / ".env").write_text((ws / ".env").read_text() + "DATASET_ID=8\n")
    r2 = _run(ws)
    assert r2.returncode == 0, r2.stdout + r2.stderr
    assert "dataset 8:" in r2.stdout
    run = json.loads((ws.parent / "train/run.json").read_text())
    assert run["images"] and all(n.startswith("b") for n in run["images"])
    links = [p for p in (ws.parent / "datasets").rglob("*") if p.is_symlink()]
    ds8 = os.path.realpath(ws.parent / "minio/datasets/8")
    assert links and all(os.path.realpath(p).startswith(ds8) for p in links)
    manifest = json.loads((ws.parent / "datasets/split_manifest.json").read_text())
    assert manifest["dataset_id"] == "8" and len(manifest["samples"]) == 4


@pytest.mark.parametrize("value", ["abc", "0", "-3", "1.5", "7 8", "7;id", "$(id)"])
def test_dataset_id_must_be_a_positive_integer(ws: Path, value: str) -> None:
    r = _run(ws, DATASET_ID=value)
    assert r.returncode == 2
    assert "is not a positive integer" in r.stderr
    assert not (ws.parent / "datasets").exists()


def test_missing_dataset_id(ws: Path) -> None:
    env = _env(ws)
    del env["DATASET_ID"]
    r = subprocess.run(["bash", str(COMMON / "docker-entrypoint.sh")], env=env, cwd=ws,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "DATASET_ID is not set" in r.stderr


def test_exit_codes_are_propagated(ws: Path) -> None:
    r = _run(ws, TRAIN_EXIT="7")
    assert r.returncode == 7
    r = _run(ws, DATASET_ID="99")
    assert r.returncode == 2 and "dataset folder not found" in r.stderr
    assert "setup.py failed (exit 2)" in r.stdout


def test_sigterm_reaches_python(ws: Path) -> None:
    p = subprocess.Popen(["bash", str(COMMON / "docker-entrypoint.sh")],
                         env=_env(ws, SLEEP="1"), cwd=ws, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        LineReader(p).wait_for(lambda line: line.strip() == "ready")
        run = json.loads((ws.parent / "train/run.json").read_text())
        assert run["pid"] == p.pid  # exec: train.py is the entrypoint's process
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=SAFETY_NET) == -signal.SIGTERM
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_sigterm_is_forwarded_when_entrypoint_is_pid_1(ws: Path) -> None:
    """As PID 1 (like in a container) bash stays and forwards SIGTERM to the Python child."""
    import shutil

    if not shutil.which("unshare") or subprocess.run(
            ["unshare", "--pid", "--fork", "--mount-proc", "true"],
            capture_output=True).returncode != 0:
        pytest.skip("cannot create a PID namespace here (unshare --pid needs privileges)")
    p = subprocess.Popen(["unshare", "--pid", "--fork", "--mount-proc", "bash",
                          str(COMMON / "docker-entrypoint.sh")], env=_env(ws, SLEEP="1"), cwd=ws,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        LineReader(p).wait_for(lambda line: line.strip() == "ready")
        run = json.loads((ws.parent / "train/run.json").read_text())
        assert run["pid"] != 1  # python is a child of the PID-1 bash
        # signal the PID-1 bash inside the namespace: it is unshare's only child
        kids = Path(f"/proc/{p.pid}/task/{p.pid}/children").read_text().split()
        os.kill(int(kids[0]), signal.SIGTERM)
        rc = p.wait(timeout=SAFETY_NET)
        assert rc == 128 + signal.SIGTERM, rc
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


# ----------------------------------------------------------------------------- torchrun
TORCH_TRAIN = '''import json, os, sys, time
from pathlib import Path
import argparse
p = argparse.ArgumentParser()
for o in ("--output-dir", "--images-dir", "--labels-dir", "--epochs", "--note"):
    p.add_argument(o)
a = p.parse_args()
rank = os.environ.get("RANK", "none")
Path(a.output_dir).mkdir(parents=True, exist_ok=True)
(Path(a.output_dir) / f"run-{rank}.json").write_text(json.dumps({"argv": sys.argv[1:],
    "pid": os.getpid(), "WORLD_SIZE": os.environ.get("WORLD_SIZE"), "RANK": rank,
    "LOCAL_RANK": os.environ.get("LOCAL_RANK"), "cwd": os.getcwd()}))
if os.environ.get("SLEEP"):
    print("ready", rank, flush=True)
    time.sleep(600)  # until the test's signal
sys.exit(int(os.environ.get("TRAIN_EXIT", "0")) if rank == "1" else 0)
'''


@pytest.fixture()
def tws(ws: Path) -> Path:
    (ws / "train.py").write_text(TORCH_TRAIN)
    return ws


def _runs(ws: Path, root: Path | None = None) -> dict[str, dict[str, object]]:
    out = (root or ws.parent) / "train"
    return {p.stem.removeprefix("run-"): json.loads(p.read_text()) for p in out.glob("run-*.json")}


def _plain_argv(ws: Path) -> list[str]:
    r = subprocess.run([sys.executable, "config_to_args.py", "--print"], cwd=ws, env=_env(ws),
                       capture_output=True, text=True, timeout=60, check=True)
    return list(json.loads(r.stdout))


def test_no_torchrun_variables_run_python_train_py_as_before(tws: Path) -> None:
    r = _run(tws)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "[train] torchrun" not in r.stdout and "[entrypoint] torchrun" not in r.stdout
    assert "[train] python train.py" in r.stdout
    runs = _runs(tws)
    assert list(runs) == ["none"] and runs["none"]["WORLD_SIZE"] is None


def test_tc_nproc_per_node_starts_torchrun_with_the_same_argv(tws: Path) -> None:
    r = _run(tws, TC_NPROC_PER_NODE="2")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "[train] torchrun --nproc-per-node 2 --standalone train.py --epochs 1 --note" in r.stdout
    runs = _runs(tws)
    assert sorted(runs) == ["0", "1"]
    argv = _plain_argv(tws)
    assert "; rm -rf / $(id)" in argv  # one argv element, never a shell word
    for rank, run in runs.items():
        assert run["argv"] == argv
        assert (run["WORLD_SIZE"], run["RANK"], run["LOCAL_RANK"]) == ("2", rank, rank)
        assert run["cwd"] == str(tws)
    assert r.stdout.count("[setup] dataset 7:") == 1  # setup.py once per node, not per process


def test_kubeflow_pet_variables_on_one_node(tws: Path) -> None:
    r = _run(tws, PET_NNODES="1", PET_NPROC_PER_NODE="2")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "[train] torchrun --standalone train.py" in r.stdout
    assert sorted(_runs(tws)) == ["0", "1"]


def test_kubeflow_two_nodes_meet_at_the_master(tws: Path, tmp_path: Path) -> None:
    """Two entrypoints as Kubeflow's two nodes (PET_NODE_RANK 0/1, the master on loopback)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    procs = []
    for node in range(2):
        root = tmp_path / f"node{node}"
        root.mkdir()
        ws = root / "workspace"  # each node has its own image filesystem
        shutil.copytree(tws, ws)
        env = _env(ws, MINIO_ROOT=str(tws.parent / "minio"), DATASETS_ROOT=str(root / "datasets"),
                   TRAIN_ROOT=str(root / "train"),
                   PET_NNODES="2", PET_NPROC_PER_NODE="1", PET_NODE_RANK=str(node),
                   PET_MASTER_ADDR="127.0.0.1", PET_MASTER_PORT=str(port),
                   GLOO_SOCKET_IFNAME="lo")
        procs.append(subprocess.Popen(["bash", str(COMMON / "docker-entrypoint.sh")], env=env,
                                      cwd=ws, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True))
    outs = [p.communicate(timeout=180)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    for node in range(2):
        runs = _runs(tmp_path / f"node{node}" / "workspace", tmp_path / f"node{node}")
        assert list(runs) == [str(node)]
        assert runs[str(node)]["WORLD_SIZE"] == "2" and runs[str(node)]["LOCAL_RANK"] == "0"


def test_pytorchjob_master_addr_and_rank_reach_torchrun(tws: Path) -> None:
    """Training Operator v1 versions that set MASTER_ADDR/MASTER_PORT/RANK but no PET_MASTER_*."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = _run(tws, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK="0", WORLD_SIZE="1",
             PET_NNODES="1", TC_NPROC_PER_NODE="2")
    assert r.returncode == 0, r.stdout + r.stderr
    assert (f"[train] torchrun --nproc-per-node 2 --master-addr 127.0.0.1 --master-port {port} "
            "--node-rank 0 train.py") in r.stdout
    runs = _runs(tws)
    assert sorted(runs) == ["0", "1"] and all(r["WORLD_SIZE"] == "2" for r in runs.values())


def test_torchrun_exit_code_is_the_failing_process_code(tws: Path) -> None:
    r = _run(tws, TC_NPROC_PER_NODE="2", TRAIN_EXIT="7")
    assert r.returncode == 7, r.stdout + r.stderr


@pytest.mark.parametrize(("env", "message"), [
    ({"TC_NPROC_PER_NODE": "two"}, "TC_NPROC_PER_NODE='two' is not a process count"),
    ({"TC_NPROC_PER_NODE": "0"}, "TC_NPROC_PER_NODE='0' is not a process count"),
    ({"PET_NPROC_PER_NODE": "1;id"}, "PET_NPROC_PER_NODE='1;id' is not a process count"),
    ({"PET_NNODES": "x"}, "PET_NNODES='x' is not a node count"),
    ({"PET_NNODES": "2"}, "PET_NNODES=2 but no PET_MASTER_ADDR"),
])
def test_bad_torchrun_variables_are_refused(tws: Path, env: dict[str, str], message: str) -> None:
    r = _run(tws, **env)
    assert r.returncode == 2, r.stdout + r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr
    assert not _runs(tws)


def test_sigterm_stops_torchrun_and_its_processes(tws: Path) -> None:
    p = subprocess.Popen(["bash", str(COMMON / "docker-entrypoint.sh")],
                         env=_env(tws, SLEEP="1", TC_NPROC_PER_NODE="2"), cwd=tws,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out = LineReader(p)
        out.wait_for(lambda line: line.startswith("ready"))
        out.wait_for(lambda line: line.startswith("ready"))
        workers = [int(str(run["pid"])) for run in _runs(tws).values()]
        assert len(workers) == 2
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=SAFETY_NET) == -signal.SIGTERM

        def gone(w: int) -> bool:
            try:
                return "Z" in Path(f"/proc/{w}/stat").read_text().split()[2]
            except FileNotFoundError:
                return True

        wait_until(lambda: all(gone(w) for w in workers),
                   "train.py processes outlived the entrypoint")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


# ----------------------------------------------------------------------------- tc's own files
def test_no_python_program_in_the_entrypoint() -> None:
    """Python runs from module files (linted, typed), never from a string in the script."""
    text = (COMMON / "docker-entrypoint.sh").read_text()
    assert not re.search(r"\bpython[0-9.]*\"?\s+-c\b|\$\{?PYTHON\}?\"?\s+-c\b", text, re.I)


def test_the_launcher_is_required_before_torchrun(tws: Path) -> None:
    (tws / "torchrun_launcher.py").unlink()
    r = _run(tws, TC_NPROC_PER_NODE="2")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "torchrun_launcher.py: missing (a tc runtime file)" in r.stderr
