"""docker-entrypoint.sh outside Docker: .env as data, DATASET_ID switch, exit codes, SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import COMMON, DATASETS, REPO
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
    import time; time.sleep(60)
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
    for f in ("config.py", "config_to_args.py", "dataset.py"):
        (w / f).write_text((COMMON / f).read_text())
    (w / "cvat_dataset.py").write_text((DATASETS / "cvat_dataset.py").read_text())
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
                          cwd=ws, capture_output=True, text=True, timeout=120)


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
        deadline = time.time() + 60
        assert p.stdout is not None
        for line in p.stdout:
            if line.strip() == "ready" or time.time() > deadline:
                break
        run = json.loads((ws.parent / "train/run.json").read_text())
        assert run["pid"] == p.pid  # exec: train.py is the entrypoint's process
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=20) == -signal.SIGTERM
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
        assert p.stdout is not None
        for line in p.stdout:
            if line.strip() == "ready":
                break
        run = json.loads((ws.parent / "train/run.json").read_text())
        assert run["pid"] != 1  # python is a child of the PID-1 bash
        # signal the PID-1 bash inside the namespace: it is unshare's only child
        kids = Path(f"/proc/{p.pid}/task/{p.pid}/children").read_text().split()
        os.kill(int(kids[0]), signal.SIGTERM)
        rc = p.wait(timeout=20)
        assert rc == 128 + signal.SIGTERM, rc
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
