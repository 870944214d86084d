"""Issue 7 in Docker: `tc dev-run --demo` at the default demo size and the templates' own
train_config.json reaches the score bar, with a verified ONNX model (sklearn, classification)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_devrun import cleanup, render, summary_of, tc

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.mark.parametrize("template", ["sklearn", "classification"])
def test_demo_score_in_docker(tmp_path: Path, docker_client: Any, base_image: str,
                              template: str) -> None:
    project = render(tmp_path / f"{template[:3]}-{uuid.uuid4().hex[:6]}", template,
                     tmp_path / "home")
    try:
        done = tc(["dev-run", str(project), "--demo", "--json"], base_image)
        assert done.returncode == 0, done.stdout + done.stderr
        summary = summary_of(done)
        assert summary["status"] == "succeeded", summary
        assert summary["score"] is not None and summary["score"] >= 0.8, summary
        assert Path(summary["model_file"]).suffix == ".onnx"
        assert Path(summary["model_file"]).is_file()
        import onnxruntime as ort

        sess = ort.InferenceSession(summary["model_file"], providers=["CPUExecutionProvider"])
        assert sess.get_inputs()
    finally:
        cleanup(docker_client, project)
