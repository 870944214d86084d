"""tc dev-run ends with the report: one line saying where, built from the container's ONNX file."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_devrun import cleanup, render, tc

pytestmark = pytest.mark.integration


@pytest.fixture()
def sk_project(tmp_path: Path, docker_client: Any, base_image: str) -> Iterator[Path]:
    project = render(tmp_path / f"formreport-{uuid.uuid4().hex[:6]}", "sklearn", tmp_path / "home")
    yield project
    cleanup(docker_client, project)


def test_dev_run_writes_the_report(sk_project: Path, base_image: str) -> None:
    done = tc(["dev-run", str(sk_project), "--demo", "--demo-images", "30"], base_image)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("report ")]
    assert len(lines) == 1 and lines[0].rstrip().endswith(".tc/report/index.html"), done.stdout
    report = json.loads((sk_project / ".tc" / "report" / "report.json").read_text())
    metrics = json.loads((sk_project / ".tc" / "train" / "metrics.json").read_text())
    assert report["model"]["status"] == "ok"
    assert sum(map(sum, report["classification"]["confusion"])) == metrics["val_images"]
    assert report["classification"]["accuracy"] == pytest.approx(metrics["accuracy"])
    assert report["timings"]["build"] is not None and report["timings"]["train"] is not None
    assert "curves.png" in report["images"] and "grid.png" in report["images"]
    index = sk_project / ".tc" / "report" / "index.html"
    for ref in re.findall(r'src="([^"]+)"', index.read_text()):
        assert (index.parent / ref).is_file()


def test_a_failing_report_does_not_fail_the_run(sk_project: Path, base_image: str) -> None:
    # the report's dataset stage runs the project's common/dataset.py: break it after the build
    # would be too late, so make the report's input unreadable instead: a directory as run.json
    (sk_project / ".tc" / "report" / "run.json").mkdir(parents=True)
    done = tc(["dev-run", str(sk_project), "--demo", "--demo-images", "30"], base_image)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "status     succeeded (exit 0)" in done.stdout
    assert "report not written: " in done.stdout + done.stderr
