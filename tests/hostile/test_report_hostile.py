"""Hostile runs under ``tc report`` (issue 28, items 4, 5, 6 and the unbounded/exit-70 cases).

A real run of the sklearn template (trained outside Docker as dev-run lays it out, once per
module), copied per test; each case breaks one thing a container or a project could hold.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.hostile.conftest import Guard
from tests.hostile.harness import assert_clean_failure, tc
from tests.unit.report.runs import trained_project

MEM = 1 << 30  # prlimit --as=1G
DEEP = "[" * 100_000 + "]" * 100_000


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project, _ = trained_project(tmp_path_factory.mktemp("hostile-report"), "sklearn")
    return project


@pytest.fixture()
def run(trained: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "proj"
    shutil.copytree(trained, dest, symlinks=True)
    shutil.rmtree(dest / ".tc" / "report", ignore_errors=True)
    return dest


def _report(proj: Path, *extra: str, **kw: object):  # type: ignore[no-untyped-def]
    return tc("report", *extra, str(proj), cwd=proj.parent, timeout=300, **kw)  # type: ignore[arg-type]


def _ok(r) -> None:  # type: ignore[no-untyped-def]
    both = r.stdout + r.stderr
    assert "Traceback" not in both and "internal error" not in both, both[-2000:]
    assert r.rc == 0, r.stderr


def _append(path: Path, line: str) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write(line + "\n")


# ------------------------------------------------------------------ item 4: escaped HTML


@pytest.mark.parametrize("payload", ["<script>alert(1)</script>",
                                     '"><img src=x onerror=alert(1)>',
                                     "</script><script>alert(1)</script>"])
def test_metrics_value_is_escaped_in_the_page(run: Path, payload: str) -> None:
    _append(run / ".tc" / "train" / "metrics.jsonl",
            json.dumps({"kind": "epoch", "epoch": 10**6, "epochs": payload, "loss": 0.5}))
    _ok(_report(run))
    page = (run / ".tc" / "report" / "index.html").read_text()
    assert "<script" not in page and "<img src=x" not in page, page[-1500:]
    assert "&lt;" in page


# ------------------------------------------------------------------ item 5: confined writes


def test_report_folder_linked_outside_is_refused(run: Path, guard: Guard) -> None:
    outside = run.parent / "outside"
    outside.mkdir()
    (outside / "index.html").write_text("the user's page")
    (outside / "grid.png").write_text("the user's picture")
    (run / ".tc" / "report").symlink_to(outside)
    guard.start()
    r = _report(run)
    guard.check()
    assert_clean_failure(r, 2, r"\.tc/report: is a symbolic link")


def test_tc_folder_linked_outside_is_refused(run: Path, guard: Guard) -> None:
    outside = run.parent / "elsewhere"
    (run / ".tc").rename(outside)
    (run / ".tc").symlink_to(outside)
    guard.start()
    r = _report(run)
    guard.check()
    assert_clean_failure(r, 2, r"\.tc: (is a symbolic link|a symlink to .*, outside the project)")


def test_report_folder_that_is_a_file_is_exit_2(run: Path, guard: Guard) -> None:
    (run / ".tc" / "report").write_text("not a folder")
    guard.start()
    r = _report(run)
    guard.check()
    assert_clean_failure(r, 2, r"\.tc/report: is a file, not a folder")


def test_a_file_tc_did_not_write_is_kept(run: Path, guard: Guard) -> None:
    (run / ".tc" / "report").mkdir()
    (run / ".tc" / "report" / "grid.png").write_text("the user's own picture")
    guard.start()
    r = _report(run)
    guard.check()
    assert_clean_failure(r, 2, r"grid\.png: not written by tc report")


def test_a_report_file_changed_since_is_kept(run: Path, guard: Guard) -> None:
    _ok(_report(run))
    index = run / ".tc" / "report" / "index.html"
    index.write_text("my notes on this run")
    guard.start()
    r = _report(run)
    guard.check()
    assert_clean_failure(r, 2, r"index\.html: not written by tc report \(or changed since\)")


def test_second_report_replaces_and_prunes_only_its_own_files(run: Path) -> None:
    """(also right before) unchanged files of the last report are replaced; the manifest lists
    exactly the files written, each with its sha256."""
    _ok(_report(run))
    _ok(_report(run))
    out = run / ".tc" / "report"
    manifest = json.loads((out / "manifest.json").read_text())["files"]
    import hashlib
    for name, digest in manifest.items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest


# ------------------------------------------------------------------ item 6: no project code


RUNTIME_GLOBS = ("common/*.py", "datasets/*.py", "export/*.py", "templates/*/*/*/docker/*.py")


def test_no_project_code_runs_on_the_host(run: Path, tmp_path: Path) -> None:
    """A payload in every runtime file a host-side command could import; then every host-side
    command that reads the project (validate, package, report, form, dataset inspect, update
    --dry-run): no marker may appear."""
    marker = tmp_path / "PWNED"
    payload = (f"\nimport pathlib as _p\n_p.Path({str(marker)!r}).mkdir(exist_ok=True)\n"
               f"(_p.Path({str(marker)!r}) / __name__).write_text('ran')\n")
    files = [p for g in RUNTIME_GLOBS for p in run.glob(g)]
    assert {p.name for p in files} >= {"dataset.py", "cvat_dataset.py", "config.py", "export.py",
                                       "setup.py", "train.py"}, files
    for p in files:  # appended: module-level code runs on import (after `from __future__`)
        p.write_text(p.read_text() + payload)
    tc("validate", str(run), cwd=tmp_path, timeout=300)
    tc("package", str(run), "-o", str(tmp_path / "x.zip"), cwd=tmp_path, timeout=300)
    tc("report", str(run), cwd=tmp_path, timeout=300)
    tc("report", str(run), "--json", cwd=tmp_path, timeout=300)
    tc("dataset", "inspect", str(run / ".tc" / "minio" / "datasets" / "1"), "--report",
       str(tmp_path / "ds-report"), cwd=tmp_path, timeout=300)
    tc("update", "--dry-run", str(run), cwd=tmp_path, timeout=300)
    from tests.hostile.test_form_hostile import _start
    form = _start(run)
    if form.url:
        form.request("GET", "api/form")
        form.proc.terminate()
        form.proc.wait(timeout=30)
    ran = sorted(p.name for p in marker.iterdir()) if marker.exists() else []
    assert ran == [], f"project code ran on the host: {ran}"


def test_split_file_naming_paths_outside_is_not_used(run: Path) -> None:
    split = run / ".tc" / "train" / "split.json"
    data = json.loads(split.read_text())
    data["val"]["images"][0]["file_name"] = "../../../../outside.png"
    split.write_text(json.dumps(data))
    r = _report(run, "--json")
    _ok(r)
    out = json.loads(r.stdout)
    assert out["val"] is None
    assert any("split.json" in n and "plain file name" in n for n in out["notes"]), out["notes"]


# ------------------------------------------------------------------ memory and exit 70


def test_two_gb_one_line_metrics_log_in_bounded_memory(run: Path) -> None:
    path = run / ".tc" / "train" / "metrics.jsonl"
    with path.open("wb") as fh:  # sparse: 2 GB of NUL bytes on one line, no disk used
        fh.truncate(2 * 1024 ** 3)
    try:
        r = _report(run, mem_limit=MEM)
        assert_clean_failure(r, 2, r"metrics\.jsonl: \d+ bytes, more than the limit of 67108864")
    finally:
        path.unlink()


def test_one_line_over_the_line_cap(run: Path) -> None:
    path = run / ".tc" / "train" / "metrics.jsonl"
    path.write_text('{"kind": "epoch", "epoch": 1, "x": "' + "a" * (8 * 1024 * 1024) + '"}\n')
    r = _report(run, mem_limit=MEM)
    assert_clean_failure(r, 2, r"metrics\.jsonl line 1: longer than 1048576 bytes")


@pytest.mark.parametrize("name", ["metrics.jsonl", "metrics.json", "run.json", "custom.json"])
def test_deeply_nested_json_is_a_note_not_exit_70(run: Path, name: str) -> None:
    if name == "custom.json":
        path = next(run.glob("templates/*/*/*/config/custom.json"))
    elif name == "run.json":
        (run / ".tc" / "report").mkdir(exist_ok=True)
        path = run / ".tc" / "report" / "run.json"
    else:
        path = run / ".tc" / "train" / name
    path.write_text(DEEP + "\n")
    r = _report(run, "--json")
    _ok(r)
    assert any("nested" in n or "not a JSON object" in n for n in json.loads(r.stdout)["notes"])


def test_nan_metrics_keep_report_json_valid(run: Path) -> None:
    path = run / ".tc" / "train" / "metrics.jsonl"
    _append(path, '{"kind": "epoch", "epoch": 2, "epochs": 3, "loss": NaN, "val_loss": Infinity, '
                  '"metric": -Infinity, "metric_name": "accuracy", "lr": 1e400}')
    (run / ".tc" / "train" / "metrics.json").write_text('{"accuracy": NaN}')
    _ok(_report(run))

    def refuse(word: str) -> None:
        raise AssertionError(f"report.json holds {word}: not JSON")
    json.loads((run / ".tc" / "report" / "report.json").read_text(), parse_constant=refuse)


def test_dataset_inspect_report_onto_a_file_is_exit_2(run: Path, guard: Guard) -> None:
    target = run.parent / "a-file"
    target.write_text("keep me")
    guard.start()
    r = tc("dataset", "inspect", str(run / ".tc" / "minio" / "datasets" / "1"), "--report",
           str(target), cwd=run.parent, timeout=300)
    guard.check()
    assert_clean_failure(r, 2, r"--report .*a-file: is a file, not a folder")
    assert os.path.getsize(target) == len("keep me")
