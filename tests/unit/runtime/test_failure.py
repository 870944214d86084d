"""failure.py (in the image): failure.json's content, never on success, a previous one removed
only when it is ours; and docker-entrypoint.sh writing it when a stage fails."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tcli.explain import diagnose

from .conftest import COMMON
from .test_entrypoint import _env, ws  # noqa: F401  (the workspace fixture)

_spec = importlib.util.spec_from_file_location("failure", COMMON / "failure.py")
assert _spec is not None and _spec.loader is not None
failure = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(failure)


def test_document_fields() -> None:
    doc = failure.document("train", 137, ["epoch 1", "Killed"], now=0)
    assert doc == {"schema": "tc-failure/1", "stage": "train", "exit_code": 137,
                   "signal": "SIGKILL", "time": "1970-01-01T00:00:00Z",
                   "dataset_id": doc["dataset_id"], "last_lines": ["epoch 1", "Killed"],
                   "explain": "tc explain failure.json"}
    assert failure.signal_of(1) is None and failure.signal_of(-15) == "SIGTERM"
    with pytest.raises(ValueError):
        failure.document("nap", 1, [])


def test_schema_is_the_one_tc_explain_reads() -> None:
    assert failure.SCHEMA == diagnose.FAILURE_SCHEMA and failure.STAGES == diagnose.STAGES
    data = json.dumps(failure.document("setup", 2, ["x"])).encode()
    assert diagnose.read_failure_json(data, "failure.json")["exit_code"] == 2


def test_never_on_success(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TC_FAILURE_DIR", str(tmp_path))
    assert failure.main(["--stage", "train", "--exit-code", "0"]) == 0
    assert not (tmp_path / "failure.json").exists()


def test_written_file_is_readable_by_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a container running as root writes into the host's .tc/train: the user must read it
    monkeypatch.setenv("TC_FAILURE_DIR", str(tmp_path))
    assert failure.main(["--stage", "train", "--exit-code", "1"]) == 0
    assert (tmp_path / "failure.json").stat().st_mode & 0o777 == 0o644


def test_tail_keeps_the_last_lines_of_a_big_log(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "log"
    log.write_text("".join(f"line {i}\n" for i in range(100_000)))
    monkeypatch.setenv("TC_FAILURE_DIR", str(tmp_path / "out"))
    assert failure.main(["--stage", "train", "--exit-code", "3", "--log", str(log)]) == 0
    doc = json.loads((tmp_path / "out" / "failure.json").read_text())
    assert doc["last_lines"][-1] == "line 99999" and len(doc["last_lines"]) == failure.TAIL_LINES
    assert failure.tail(Path("/dev/zero")) == [] and failure.tail(tmp_path / "none") == []


def test_clear_removes_only_ours(tmp_path: Path) -> None:
    (tmp_path / "failure.json").write_text('{"mine": true}')
    assert not failure.clear(tmp_path) and (tmp_path / "failure.json").exists()
    failure.write(tmp_path, failure.document("train", 1, []))
    assert failure.clear(tmp_path) and not (tmp_path / "failure.json").exists()


def _with_failure_py(w: Path) -> None:
    shutil.copy(COMMON / "failure.py", w / "failure.py")


def test_entrypoint_writes_failure_json_when_setup_fails_and_not_on_success(ws: Path) -> None:  # noqa: F811
    _with_failure_py(ws)
    train = ws.parent / "train"
    r = subprocess.run(["bash", str(COMMON / "docker-entrypoint.sh")],
                       env=_env(ws, DATASET_ID="99"), cwd=ws, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2, r.stdout + r.stderr
    doc = json.loads((train / "failure.json").read_text())
    assert doc["stage"] == "setup" and doc["exit_code"] == 2 and doc["signal"] is None
    assert any("dataset folder not found" in ln for ln in doc["last_lines"]), doc
    # the platform shows the same log lines as before
    assert "setup.py failed (exit 2)" in r.stdout and "dataset folder not found" in r.stderr
    ok = subprocess.run(["bash", str(COMMON / "docker-entrypoint.sh")], env=_env(ws), cwd=ws,
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert not (train / "failure.json").exists()  # the previous run's file went, none written


def test_entrypoint_as_pid_1_writes_failure_json_when_train_fails(ws: Path) -> None:  # noqa: F811
    if not shutil.which("unshare") or subprocess.run(
            ["unshare", "--pid", "--fork", "--mount-proc", "true"],
            capture_output=True).returncode != 0:
        pytest.fail("cannot create a PID namespace here (unshare --pid needs privileges)")
    _with_failure_py(ws)
    r = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "bash",
                        str(COMMON / "docker-entrypoint.sh")], env=_env(ws, TRAIN_EXIT="7"),
                       cwd=ws, capture_output=True, text=True, timeout=120)
    assert r.returncode == 7, r.stdout + r.stderr
    doc = json.loads((ws.parent / "train" / "failure.json").read_text())
    assert doc["stage"] == "train" and doc["exit_code"] == 7


def test_entrypoint_records_a_refused_mount(ws: Path) -> None:  # noqa: F811
    """The real mount-s3.sh against an STS port nobody listens on (loopback): stage mount."""
    if shutil.which("curl") is None:
        pytest.fail("curl is needed by mount-s3.sh (apt-get install curl)")
    _with_failure_py(ws)
    r = subprocess.run(["bash", str(COMMON / "docker-entrypoint.sh")],
                       env=_env(ws, S3_HOST="http://127.0.0.1:9", OID_ACCESS_TOKEN="x",
                                S3_BUCKET_NAME="datasets"),
                       cwd=ws, capture_output=True, text=True, timeout=120)
    assert r.returncode == 3, r.stdout + r.stderr
    # the exit code is die's second argument, not part of the message
    assert r.stderr.endswith("[entrypoint] error: mounting the dataset bucket failed (exit 3)\n")
    doc = json.loads((ws.parent / "train" / "failure.json").read_text())
    assert doc["stage"] == "mount" and doc["exit_code"] == 3
    result = diagnose.explain_lines(doc["last_lines"], source="failure.json",
                                    exit_code=doc["exit_code"], stage=doc["stage"])
    assert [f.id for f in result.findings] == ["s3-mount-refused"]
