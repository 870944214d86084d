"""Config merge/validation and the argv list for train.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCHEMA = {
    "type": "object",
    "required": ["epochs", "train-split"],
    "properties": {
        "epochs": {"type": "integer", "minimum": 1, "default": 5},
        "optimizer": {"type": "string", "default": "AdamW"},
        "batch-size": {"type": "integer", "minimum": 1, "default": 8},
        "train-split": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.8},
        "test-split": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.2},
    },
}
ARGS_PY = '''import argparse
def build_parser():
    p = argparse.ArgumentParser()
    for o in ("--epochs", "--optimizer", "--batch-size", "--output-dir", "--images-dir",
              "--labels-dir", "--note", "--extra"):
        p.add_argument(o)
    p.add_argument("--layers", nargs="*")
    p.add_argument("--amp", action="store_true")
    return p
'''


def _ws(tmp_path: Path, train_config: dict, presets: dict | None = None, args_py: str = ARGS_PY
        ) -> Path:
    (tmp_path / "train_config.json").write_text(json.dumps(train_config))
    (tmp_path / "presets.json").write_text(json.dumps(presets if presets is not None else {
        "output-dir": "/train", "images-dir": "/datasets/images", "labels-dir": "/datasets/labels"}))
    (tmp_path / "config.jsonschema").write_text(json.dumps(SCHEMA))
    (tmp_path / "custom.json").write_text(json.dumps({"model_filepath": "/train/model.onnx"}))
    if args_py:
        (tmp_path / "args.py").write_text(args_py)
    return tmp_path


def test_merge_order_defaults_presets_and_no_custom_json(tmp_path: Path, monkeypatch) -> None:
    import config

    monkeypatch.delenv("DATASETS_ROOT", raising=False)
    ws = _ws(tmp_path, {"epochs": 3, "output-dir": "/user/choice", "train-split": 0.7},
             {"output-dir": "/train", "images-dir": "/datasets/images"})
    cfg = config.load_config(ws)
    assert list(cfg) == ["epochs", "output-dir", "train-split", "optimizer", "batch-size",
                         "test-split", "images-dir"]
    assert cfg["output-dir"] == "/train"  # presets win
    assert cfg["optimizer"] == "AdamW"  # schema default
    assert "model_filepath" not in cfg  # custom.json never read


def test_finalize_remaps_roots_and_is_idempotent(tmp_path: Path, monkeypatch) -> None:
    import config

    monkeypatch.setenv("DATASETS_ROOT", "/tmp/x/ds")
    monkeypatch.setenv("TRAIN_ROOT", "/tmp/x/out/")
    monkeypatch.delenv("MINIO_ROOT", raising=False)
    ws = _ws(tmp_path, {"epochs": 3, "train-split": 0.7, "note": "/trainee", "extra": "/minio/a"})
    final = config.finalize_config(ws=ws)
    assert final["images-dir"] == "/tmp/x/ds/images" and final["output-dir"] == "/tmp/x/out"
    assert final["note"] == "/trainee" and final["extra"] == "/minio/a"
    text = (ws / "train_config.json").read_text()
    assert config.finalize_config(ws=ws) == final
    assert (ws / "train_config.json").read_text() == text


def test_schema_violations_are_all_reported_with_keys(tmp_path: Path) -> None:
    import config

    ws = _ws(tmp_path, {"epochs": 0, "batch-size": "big", "train-split": 2})
    with pytest.raises(config.ConfigError) as exc:
        config.load_config(ws)
    msg = str(exc.value)
    assert "3 schema violation(s)" in msg
    assert "epochs: 0 is less than the minimum of 1" in msg
    assert "batch-size: 'big' is not of type 'integer'" in msg
    assert "train-split: 2 is greater than the maximum of 1" in msg


def test_bad_json_names_file_and_line(tmp_path: Path) -> None:
    import config

    (tmp_path / "train_config.json").write_text('{\n"epochs": 3,\n}')
    with pytest.raises(config.ConfigError, match=r"train_config.json: invalid JSON at line 3"):
        config.load_config(tmp_path)


def test_unknown_key_is_an_error_before_training(tmp_path: Path) -> None:
    import config

    ws = _ws(tmp_path, {"epochs": 3, "train-split": 0.8, "dropout": 0.1, "gamma": 2})
    with pytest.raises(config.ConfigError) as exc:
        config.load_config(ws)
    assert "does not declare --dropout, --gamma" in str(exc.value)


def test_argv_rules() -> None:
    import config_to_args

    argv = config_to_args.config_to_argv({
        "epochs": 3, "lr": 0.001, "train-split": 0.8, "test-split": 0.2, "amp": True,
        "cpu": False, "none": None, "empty": "", "layers": [1, 2.5, "x y"], "no-layers": [],
        "optimizer": "; rm -rf /", "note": "$(touch /tmp/pwned) `id` | & > x",
        "dash": "--evil", "neg": -3, "opts": {"a": 1}})
    assert argv == ["--epochs", "3", "--lr", "0.001", "--amp", "--layers", "1", "2.5", "x y",
                    "--optimizer", "; rm -rf /", "--note", "$(touch /tmp/pwned) `id` | & > x",
                    "--dash=--evil", "--neg", "-3", "--opts", '{"a": 1}']


def test_declared_options_from_source_when_import_fails(tmp_path: Path) -> None:
    import config_to_args

    (tmp_path / "args.py").write_text("import not_installed_module\nimport argparse\n"
                                      "p = argparse.ArgumentParser()\n"
                                      "p.add_argument('--epochs', type=int)\n"
                                      "p.add_argument('-o', '--output-dir')\n")
    assert config_to_args.declared_options(tmp_path / "args.py") == {"--epochs", "--output-dir"}


def test_bad_key_cannot_become_an_option() -> None:
    import config_to_args

    with pytest.raises(config_to_args.ConfigError, match="cannot be a command-line option"):
        config_to_args.config_to_argv({"a b": 1})


def test_exec_passes_shell_characters_intact(tmp_path: Path) -> None:
    """The real process: config_to_args.py execs train.py; argv arrives element by element."""
    from .conftest import COMMON

    ws = _ws(tmp_path, {"epochs": 2, "optimizer": "; rm -rf /", "note": "a b", "amp": True,
                        "train-split": 0.8})
    for f in ("config.py", "config_to_args.py"):
        (ws / f).write_text((COMMON / f).read_text())
    (ws / "train.py").write_text("import json, sys\nprint('ARGV=' + json.dumps(sys.argv[1:]))\n")
    (ws / "train_config.json").write_text(json.dumps(
        {"epochs": 2, "optimizer": "; rm -rf /", "note": "a b", "amp": True, "train-split": 0.8}))
    r = subprocess.run([sys.executable, "config_to_args.py"], cwd=ws, capture_output=True,
                       text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "WORKSPACE": str(ws)})
    assert r.returncode == 0, r.stderr
    line = next(x for x in r.stdout.splitlines() if x.startswith("ARGV="))
    assert json.loads(line[5:]) == ["--epochs", "2", "--optimizer", "; rm -rf /", "--note",
                                    "a b", "--amp"]
    (ws / "train_config.json").write_text(json.dumps({"epochs": 2, "bogus": 1}))
    r = subprocess.run([sys.executable, "config_to_args.py"], cwd=ws, capture_output=True,
                       text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "WORKSPACE": str(ws)})
    assert r.returncode == 2 and "does not declare --bogus" in r.stderr
    assert "ARGV=" not in r.stdout
