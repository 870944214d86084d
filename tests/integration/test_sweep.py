"""tc sweep on a real Docker daemon: the scikit-learn template over demo data, 8 trials, Ctrl-C
after trial 3 and --resume (nothing lost or repeated, shown from the SQLite storage), the report
and --apply.

Drives the real ``tc`` CLI in subprocesses, TC_NETWORK=host, base image
tc-local/python-sklearn:bookworm (TC_SWEEP_SKLEARN_IMAGE overrides it).
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_devrun import cleanup, render, template_dir
from tests.waits import LineReader

pytestmark = [pytest.mark.integration, pytest.mark.slow]

IMAGE = os.environ.get("TC_SWEEP_SKLEARN_IMAGE") or "tc-local/python-sklearn:bookworm"
ROW = re.compile(r"^\s*(\d+)\s+(complete|pruned|failed|interrupted)\s")


def env() -> dict[str, str]:
    out = dict(os.environ)
    out.update(TC_NETWORK="host", TC_BASE_IMAGE=IMAGE, NO_COLOR="1", COLUMNS="200", TERM="dumb")
    return out


def tc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tcli", *args], capture_output=True, text=True,
                          timeout=3600, env=env(), check=False)


def stored(db: Path) -> list[tuple[int, str, str, float | None, bool]]:
    """(number, state, params as text, value, interrupted) of every trial, from the SQLite file."""
    with sqlite3.connect(db) as con:
        rows = con.execute(
            "SELECT t.number, t.state,"
            " (SELECT group_concat(p.param_name || '=' || p.param_value, ' ') FROM"
            "  (SELECT * FROM trial_params WHERE trial_id = t.trial_id ORDER BY param_name) p),"
            " (SELECT v.value FROM trial_values v WHERE v.trial_id = t.trial_id),"
            " (SELECT count(*) FROM trial_user_attributes a WHERE a.trial_id = t.trial_id"
            "  AND a.key = 'interrupted')"
            " FROM trials t ORDER BY t.number").fetchall()
    return [(n, s, p or "", v, bool(i)) for n, s, p, v, i in rows]


@pytest.fixture(scope="module")
def sk(tmp_path_factory: pytest.TempPathFactory, docker_client: Any) -> Iterator[Path]:
    from tcli import engine

    if not engine.image_exists(docker_client, IMAGE):
        pytest.skip(f"base image {IMAGE} absent: build it with 'make base-image'")
    root = tmp_path_factory.mktemp("sweep")
    project = render(root / f"sw-{uuid.uuid4().hex[:6]}", "sklearn", root / "home")
    yield project
    cleanup(docker_client, project)


def test_sweep_ctrl_c_resume_report_apply(sk: Path, docker_client: Any) -> None:
    name = "acc"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tcli", "sweep", str(sk), "--demo", "--trials", "8", "--name",
         name, "--gpus", "none"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env())
    reader = LineReader(proc)
    reader.wait_for(lambda line: bool(ROW.match(line)) and ROW.match(line).group(1) == "3")
    proc.send_signal(signal.SIGINT)  # Ctrl-C after trial 3 (the readiness marker: its row)
    reader.finish()
    first = reader.text()
    print(first)
    assert proc.returncode == 130, first
    assert f"resume with: tc sweep --resume {name}" in first
    db = sk / ".tc" / "sweeps" / name / "study.db"
    before = stored(db)
    print("SQLite after Ctrl-C:", *before, sep="\n  ")
    finished = [t for t in before if t[1] in ("COMPLETE", "PRUNED") or (t[1] == "FAIL" and not t[4])]
    assert [t[0] for t in finished] == [0, 1, 2]
    assert all(t[1] == "FAIL" and t[4] for t in before[3:])  # a trial Ctrl-C stopped: marked
    assert not [c for c in docker_client.containers.list(
        all=True, filters={"label": f"org.tc.sweep={name}"})]  # stopped and removed

    done = tc("sweep", str(sk), "--demo", "--resume", name, "--gpus", "none", "--json")
    print(done.stderr)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    after = stored(db)
    print("SQLite after --resume:", *after, sep="\n  ")
    # the three finished before Ctrl-C are untouched, and none of them ran again
    assert after[:3] == before[:3]
    counted = [t for t in after if t[1] in ("COMPLETE", "PRUNED") or (t[1] == "FAIL" and not t[4])]
    assert len(counted) == 8
    assert len({t[0] for t in counted}) == 8
    interrupted = [t for t in after if t[4]]
    # an interrupted trial's point is run again once (not lost), as a new trial
    for t in interrupted:
        assert sum(1 for u in counted if u[2] == t[2]) <= 1
    assert result["counts"].get("complete", 0) + result["counts"].get("pruned", 0) \
        + result["counts"].get("failed", 0) == 8
    assert result["baseline_score"] is not None
    assert result["best"]["score"] >= result["baseline_score"]
    # the report: three pictures, no script, nothing fetched
    html = (sk / ".tc" / "sweeps" / name / "index.html").read_text()
    scores = {t["score"] for t in result["trials"] if t["state"] == "complete"}
    # history and parameters always; importance when the scores differ (else a note says why)
    assert html.count('src="data:image/png;base64,') == (3 if len(scores) > 1 else 2)
    assert ("<h2>Parameter importance</h2>" in html) == (len(scores) > 1)
    assert "<script" not in html and "http://" not in html and "https://" not in html
    # --apply: no trial left to run, so no Docker work; the best config lands in train_config
    config_path = template_dir(sk) / "config" / "train_config.json"
    old = json.loads(config_path.read_text())
    applied = tc("sweep", str(sk), "--resume", name, "--apply")
    print(applied.stdout)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    new = json.loads(config_path.read_text())
    assert list(new) == list(old)
    assert {k: new[k] for k in result["best"]["params"]} == result["best"]["params"]
    assert f"best: trial {result['best']['number']}" in applied.stdout


TORCH_IMAGE = os.environ.get("TC_SWEEP_TORCH_IMAGE") or "tc-local/pytorch:2.14.1"


def test_torch_sweep_prunes_from_metrics_jsonl(tmp_path: Path, docker_client: Any) -> None:
    """The classification template, 5 short trials (3 epochs, 60 demo images, resnet18 at
    32 px on CPU) over the learning rate: a too small or too large rate sits at chance after
    epoch 1 and is stopped there by the median rule (the sampler's seed is the sweep's name,
    so the trials' rates are the same on every run)."""
    from tcli import engine

    if not engine.image_exists(docker_client, TORCH_IMAGE):
        pytest.skip(f"base image {TORCH_IMAGE} absent: build it with 'make base-image'")
    project = render(tmp_path / f"tsw-{uuid.uuid4().hex[:6]}", "classification", tmp_path / "h")
    try:
        done = subprocess.run(
            [sys.executable, "-m", "tcli", "sweep", str(project), "--demo", "--demo-images", "60",
             "--trials", "5", "--name", "torchq", "--gpus", "none", "--json",
             "--param", "epochs=3", "--param", "img-size=32", "--param", "architecture=resnet18",
             "--param", "batch-size=8", "--param", "learning-rate=0.0001:0.5:log",
             "--param", "weight-decay=0", "--param", "label-smoothing=0",
             "--param", "no-augment=true", "--param", "no-amp=true"],
            capture_output=True, text=True, timeout=3600, check=False,
            env={**env(), "TC_BASE_IMAGE": TORCH_IMAGE})
        print(done.stderr)
        assert done.returncode == 0, done.stdout + done.stderr
        result = json.loads(done.stdout)
        states = [t["state"] for t in result["trials"]]
        assert len(states) == 5 and set(states) <= {"complete", "pruned"}
        pruned = [t for t in result["trials"] if t["state"] == "pruned"]
        assert pruned, states
        for t in pruned:  # stopped before its last epoch, from the epochs metrics.jsonl had
            assert 1 <= t["epochs"] < 3 and t["note"].startswith("pruned after epoch")
        assert all(t["epochs"] == 3 for t in result["trials"] if t["state"] == "complete")
        assert result["best"]["score"] >= result["baseline_score"]
    finally:
        cleanup(docker_client, project)
