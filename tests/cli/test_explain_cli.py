"""tc explain through the Typer app: exact output (NO_COLOR), exit codes, --json, stdin,
failure.json, the project's score regexp, and unusable input (one line, exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tcli.cli import app

OOM = ("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 MiB. GPU 0 has a total "
       "capacity of 79.15 GiB of which 11.31 MiB is free.")


def invoke(*args: str, stdin: str | None = None) -> tuple[int, str]:
    r = CliRunner().invoke(app, ["explain", *args], input=stdin)
    return r.exit_code, r.output


def _project(root: Path, regexp: str) -> Path:
    cfg = root / "templates" / "p" / "c" / "a" / "config"
    cfg.mkdir(parents=True)
    (cfg / "custom.json").write_text(json.dumps({
        "model_filepath": "/train/model.onnx", "score_name": "accuracy", "score_regexp": regexp}))
    return root


def test_cuda_oom_exact_output(tmp_path: Path) -> None:
    log = tmp_path / "train.log"
    log.write_text(f"epoch 1\nTraceback (most recent call last):\n{OOM}\n")
    code, out = invoke(str(log), "--project", str(tmp_path))
    assert code == 0, out
    assert out == (
        f"cause: CUDA out of memory [cuda-out-of-memory] ({log})\n"
        "  why: the GPU ran out of memory (the model, the batch and the activations do not fit)\n"
        f"  line 3: {OOM}\n"
        "  fix: lower batch_size (or the image size) in train_config.json, use mixed precision "
        "(--amp) or gradient accumulation, or train on a GPU with more memory\n")


def test_nothing_recognised_exits_1(tmp_path: Path) -> None:
    code, out = invoke("-", "--project", str(tmp_path), stdin="epoch 1\nall good\n")
    assert code == 1
    assert out == ("explain: no known failure recognised in stdin\n"
                   "  the last lines are the best clue; docs/explain.md lists what tc recognises\n")


def test_score_regexp_of_the_project(tmp_path: Path) -> None:
    proj = _project(tmp_path / "proj", r"accuracy:  ([0-9.]+)")
    code, out = invoke("-", "--project", str(proj), stdin="epoch 1\naccuracy: 0.93\n")
    assert code == 0, out
    assert out.splitlines()[:3] == [
        "cause: score line not found [score-regexp-no-match] (stdin)",
        "  why: score_regexp `accuracy:  ([0-9.]+)` from templates/p/c/a/config/custom.json "
        "matched nothing; the nearest line was `accuracy: 0.93`; the pattern expects 2 spaces "
        "where the line has other spacing",
        "  line 2: accuracy: 0.93",
    ]


def test_failure_json_and_json_output(tmp_path: Path) -> None:
    f = tmp_path / "failure.json"
    f.write_text(json.dumps({"schema": "tc-failure/1", "stage": "mount", "exit_code": 3,
                             "signal": None,
                             "last_lines": ["fuse: device not found, try 'modprobe fuse' first"]}))
    code, out = invoke(str(f), "--json", "--project", str(tmp_path))
    assert code == 0, out
    doc = json.loads(out)
    assert doc["recognised"] is True and doc["stage"] == "mount" and doc["exit_code"] == 3
    assert [x["id"] for x in doc["findings"]] == ["fuse-missing"]
    assert doc["findings"][0]["evidence"] == [
        {"line": 1, "text": "fuse: device not found, try 'modprobe fuse' first"}]


def test_unusable_input_exits_2_one_line(tmp_path: Path) -> None:
    code, out = invoke("/dev/zero")
    assert code == 2 and out.startswith("error: /dev/zero: not a regular file"), out
    code, out = invoke(str(tmp_path / "nope.log"))
    assert code == 2 and "no such file" in out.splitlines()[0], out
    code, out = invoke()
    assert code == 2 and out.startswith("error: give a LOG file"), out
    bad = tmp_path / "failure.json"
    bad.write_text('{"schema": "tc-failure/1", "stage": "nap"}')
    code, out = invoke(str(bad), "--project", str(tmp_path))
    assert code == 2 and "stage 'nap' is not one of" in out, out
    assert "Traceback" not in out
