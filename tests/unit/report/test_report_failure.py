"""tc report shows the failure a run recorded (.tc/train/failure.json, written here by the
image's own common/failure.py): the recognised cause, evidence and fix, escaped; an unusable
file is a note, never a failed report."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from pathlib import Path

import pytest

from tcli.report.core import write_report
from tcli.report.failure import MAX_FAILURE_BYTES
from tests.unit.report.runs import trained_project
from tests.unit.runtime.conftest import COMMON

_spec = importlib.util.spec_from_file_location("failure_runtime", COMMON / "failure.py")
assert _spec is not None and _spec.loader is not None
runtime = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(runtime)

#: the last lines of a real full-disk failure (torch.save into a full /train), plus a line a
#: hostile train.py printed to get markup into the page
LOG = [
    "epoch 3/10 loss 0.41 acc 0.88",
    "<script>alert('x')</script><img src=x onerror=alert(1)>",
    "Traceback (most recent call last):",
    '  File "/workspace/train.py", line 210, in <module>',
    "    torch.save(model.state_dict(), ckpt)",
    "RuntimeError: [enforce fail at inline_container.cc:626] . unexpected pos 64 vs 0",
    "OSError: [Errno 28] No space left on device",
]


@pytest.fixture(scope="module")
def sklearn_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return trained_project(tmp_path_factory.mktemp("report-failure"), "sklearn")


@pytest.fixture()
def project(sklearn_run: tuple[Path, Path], tmp_path: Path) -> Path:
    dst = tmp_path / "project"
    shutil.copytree(sklearn_run[0], dst, symlinks=True)
    return dst


def _record_failure(project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    log = tmp_path / "entrypoint.log"
    log.write_text("\n".join(LOG) + "\n")
    monkeypatch.setenv("TC_FAILURE_DIR", str(project / ".tc" / "train"))
    monkeypatch.setenv("DATASET_ID", "1")
    assert runtime.main(["--stage", "train", "--exit-code", "1", "--log", str(log)]) == 0
    return project / ".tc" / "train" / "failure.json"


def test_report_shows_cause_evidence_and_fix(project: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    _record_failure(project, tmp_path, monkeypatch)
    result = write_report(project)
    fail = result.data["failure"]
    assert (fail["stage"], fail["exit_code"], fail["recognised"]) == ("train", 1, True)
    first = fail["findings"][0]
    assert first["id"] == "disk-full"
    assert first["evidence"] == [
        {"line": 6, "text": "RuntimeError: [enforce fail at inline_container.cc:626] . unexpected "
                            "pos 64 vs 0"},
        {"line": 7, "text": "OSError: [Errno 28] No space left on device"}]
    page = result.path.read_text(encoding="utf-8")
    assert '<section class="problem" id="failure">' in page
    assert "The run failed in stage train (exit 1)" in page
    assert "<b>disk full</b>" in page and "line 7: OSError: [Errno 28] No space left on device" in page
    assert "Fix: free space (docker system df" in page
    # the container's text is escaped, never markup
    assert "<script>" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    assert json.loads((result.path.parent / "report.json").read_text())["failure"] == fail


def test_no_failure_file_no_section(project: Path) -> None:
    result = write_report(project)
    assert result.data["failure"] is None
    assert 'id="failure"' not in result.path.read_text(encoding="utf-8")


@pytest.mark.parametrize("kind", ["big", "schema", "link", "depth", "type"])
def test_unusable_failure_file_is_a_note(project: Path, kind: str) -> None:
    path = project / ".tc" / "train" / "failure.json"
    if kind == "big":
        path.write_text('{"schema": "tc-failure/1", "last_lines": ["'
                        + "x" * MAX_FAILURE_BYTES + '"]}')
    elif kind == "schema":
        path.write_text('{"schema": "other/1", "last_lines": []}')
    elif kind == "link":
        os.symlink("/etc/passwd", path)
    elif kind == "depth":
        path.write_text('{"schema": "tc-failure/1", "x": ' + "[" * 5000 + "]" * 5000 + "}")
    else:
        path.write_text('{"schema": "tc-failure/1", "exit_code": "137", "last_lines": []}')
    result = write_report(project)
    assert result.data["failure"] is None
    notes = [n for n in result.data["notes"] if n.startswith(".tc/train/failure.json not shown: ")]
    assert len(notes) == 1, result.data["notes"]


def test_tc_report_says_the_run_failed(project: Path, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from tcli.cli import app

    _record_failure(project, tmp_path, monkeypatch)
    monkeypatch.setenv("NO_COLOR", "1")
    result = CliRunner().invoke(app, ["report", str(project)])
    assert result.exit_code == 0, result.output
    assert ("the run failed (stage train, exit 1): disk full [disk-full]; the report shows "
            "why; tc explain .tc/train/failure.json") in " ".join(result.output.split())
