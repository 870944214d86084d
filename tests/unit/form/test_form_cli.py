"""``tc form`` as a command: the URL it prints works, bad input is one line and exit 2."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from typer.testing import CliRunner

from tcli.cli import app
from tests.waits import SAFETY_NET, LineReader


def test_not_a_project_is_exit_2(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["form", str(tmp_path / "nope"), "--no-browser"])
    assert res.exit_code == 2
    assert "no such project folder" in res.output and "Traceback" not in res.output


def test_bad_port_is_exit_2(project: Path) -> None:
    res = CliRunner().invoke(app, ["form", str(project), "--no-browser", "--port", "70000"])
    assert res.exit_code == 2 and "--port 70000" in res.output


def test_served_url_answers_and_ctrl_c_stops(project: Path) -> None:
    """Each step waits for tc's own line (the URL, ``saved ...``); the deadlines are only a
    safety net against a hang, long enough for a loaded machine."""
    proc = subprocess.Popen([sys.executable, "-m", "tcli", "form", str(project), "--no-browser"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ, COLUMNS="300"))
    out = LineReader(proc)
    try:
        lines = [out.readline(), out.readline()]
        assert lines[0].startswith("form for ") and "train_config.json" in lines[0]
        url = lines[1].split()[1]
        assert url.startswith("http://127.0.0.1:")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, no proxy
        with opener.open(url + "api/form", timeout=SAFETY_NET) as resp:
            assert json.loads(resp.read())["formData"]["architecture"] == "logistic_regression"
        with opener.open(url, timeout=SAFETY_NET) as resp:
            assert b'<script src="form.js">' in resp.read()
        with opener.open(url + "api/form", timeout=SAFETY_NET) as resp:
            data = json.loads(resp.read())["formData"]
        req = urllib.request.Request(url + "api/save", method="POST",
                                     data=json.dumps({"formData": {**data, "seed": 5}}).encode(),
                                     headers={"Content-Type": "application/json"})
        with opener.open(req, timeout=SAFETY_NET) as resp:
            assert json.loads(resp.read())["ok"] is True
        assert out.readline().startswith("saved templates/")
    finally:
        proc.send_signal(signal.SIGINT)
        rest = out.finish()
    assert proc.returncode == 0 and "stopped" in rest, out.text()
    token = url.rstrip("/").rsplit("/", 1)[1]
    assert token not in rest, "the token is printed once, in the URL line only"
    cfg = next(project.glob("templates/*/*/*/config/train_config.json"))
    assert json.loads(cfg.read_text())["seed"] == 5
