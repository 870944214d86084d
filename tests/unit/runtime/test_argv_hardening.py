"""The runtime's argv building against hostile config values, and the config/config_to_args
layering (issue 12: config_to_args is a leaf; finalize_config does not merge twice)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import COMMON

REMAINDER_ARGS = '''import argparse
def build_parser():
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int)
    p.add_argument("--layers", nargs="*")
    p.add_argument("--extra-args", nargs=argparse.REMAINDER)
    return p
'''


@pytest.mark.parametrize("item", ["--output-dir=/x", "-h", "--help", "-", "--", "-x1"])
def test_list_items_starting_with_dash_are_refused(item: str) -> None:
    import config_to_args

    with pytest.raises(config_to_args.ConfigError, match=r"layers: list item .* starts with '-'"):
        config_to_args.config_to_argv({"layers": ["a", item]})


def test_negative_numbers_in_lists_stay_allowed() -> None:
    import config_to_args

    assert config_to_args.config_to_argv({"layers": [-1, "-2.5", "3"]}) == \
        ["--layers", "-1", "-2.5", "3"]


def test_remainder_option_takes_dash_items_and_goes_last(tmp_path: Path) -> None:
    import config_to_args

    (tmp_path / "args.py").write_text(REMAINDER_ARGS)
    dash_ok = config_to_args.remainder_options(tmp_path / "args.py")
    assert dash_ok == {"--extra-args"}
    argv = config_to_args.config_to_argv(
        {"extra-args": ["--foo", "-v"], "epochs": 2}, dash_ok=dash_ok)
    assert argv == ["--epochs", "2", "--extra-args", "--foo", "-v"]
    spec_globals: dict[str, object] = {}
    exec(compile(REMAINDER_ARGS, "args.py", "exec"), spec_globals)
    parsed = spec_globals["build_parser"]().parse_args(argv)  # type: ignore[operator]
    assert parsed.epochs == 2 and parsed.extra_args == ["--foo", "-v"]


def test_remainder_found_from_source_when_import_fails(tmp_path: Path) -> None:
    import config_to_args

    (tmp_path / "args.py").write_text("import not_installed\nimport argparse\n"
                                      "p = argparse.ArgumentParser()\n"
                                      "p.add_argument('--rest', nargs=argparse.REMAINDER)\n"
                                      "p.add_argument('--other', nargs='...')\n")
    assert config_to_args.remainder_options(tmp_path / "args.py") == {"--rest", "--other"}


def test_help_key_is_refused() -> None:
    import config_to_args

    with pytest.raises(config_to_args.ConfigError, match="'help' is refused"):
        config_to_args.config_to_argv({"help": True})


@pytest.mark.parametrize("value", ["x" * 200_000, ["ok", "y" * 140_000], {"k": "z" * 140_000},
                                   "-" + "w" * 140_000])
def test_value_over_the_per_argument_limit(value: object) -> None:
    import config_to_args

    with pytest.raises(config_to_args.ConfigError, match=r"note: a value of \d+ bytes cannot be"):
        config_to_args.config_to_argv({"note": value})


def test_value_just_under_the_limit_passes() -> None:
    import config_to_args

    argv = config_to_args.config_to_argv({"note": "x" * (config_to_args.MAX_ARG_STRLEN - 1)})
    assert len(argv[1]) == config_to_args.MAX_ARG_STRLEN - 1


def test_total_size_over_arg_max() -> None:
    import config_to_args

    arg_max = os.sysconf("SC_ARG_MAX")
    cmd = ["python", "train.py"] + ["x" * 100_000] * (arg_max // 100_000 + 2)
    with pytest.raises(config_to_args.ConfigError, match="more than the OS limit ARG_MAX"):
        config_to_args.check_exec_size(cmd, env={})
    config_to_args.check_exec_size(["python", "train.py", "--epochs", "3"], env={"A": "b"})


def test_duplicate_keys_in_config_are_refused(tmp_path: Path) -> None:
    import config_to_args

    (tmp_path / "train_config.json").write_text('{"epochs": 1, "epochs": 2}')
    with pytest.raises(config_to_args.ConfigError, match="duplicate key 'epochs'"):
        config_to_args.read_json(tmp_path / "train_config.json")


def _ws(tmp_path: Path, cfg: dict, args_py: str = REMAINDER_ARGS) -> Path:
    for f in ("config.py", "config_to_args.py"):
        (tmp_path / f).write_text((COMMON / f).read_text())
    (tmp_path / "args.py").write_text(args_py)
    (tmp_path / "train.py").write_text("import json, sys\nprint('ARGV=' + json.dumps(sys.argv[1:]))\n")
    (tmp_path / "train_config.json").write_text(json.dumps(cfg))
    return tmp_path


def _run(ws: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "config_to_args.py"], cwd=ws, capture_output=True,
                          text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "WORKSPACE": str(ws)})


@pytest.mark.parametrize("cfg, message", [
    ({"layers": ["--output-dir=/x"]}, "list item '--output-dir=/x' starts with '-'"),
    ({"layers": ["-h"]}, "list item '-h' starts with '-'"),
    ({"layers": ["a" * 200_000]}, "a value of 200000 bytes cannot be a command-line argument"),
    ({"epochs": 1, "epochs2": 1}, "does not declare --epochs2"),
])
def test_process_exits_2_with_one_line_and_never_starts_train(tmp_path: Path, cfg: dict,
                                                               message: str) -> None:
    r = _run(_ws(tmp_path, cfg))
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and "ARGV=" not in r.stdout
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("config_to_args: error: ")
    assert message in r.stderr


def test_process_passes_remainder_values(tmp_path: Path) -> None:
    r = _run(_ws(tmp_path, {"extra-args": ["--foo", "-v"], "epochs": 2}))
    assert r.returncode == 0, r.stderr
    line = next(x for x in r.stdout.splitlines() if x.startswith("ARGV="))
    assert json.loads(line[5:]) == ["--epochs", "2", "--extra-args", "--foo", "-v"]


def test_config_to_args_is_a_leaf() -> None:
    tree = ast.parse((COMMON / "config_to_args.py").read_text())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree)
                 if isinstance(n, ast.ImportFrom) and n.module}
    assert not imported & {"config", "dataset", "cvat_dataset"}, imported
    r = subprocess.run([sys.executable, "-c", "import config_to_args, sys; "
                        "assert 'config' not in sys.modules"], cwd=COMMON, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_finalize_does_not_merge_or_validate_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import config

    monkeypatch.delenv("TRAIN_ROOT", raising=False)
    (tmp_path / "train_config.json").write_text(json.dumps({"epochs": 3}))
    (tmp_path / "presets.json").write_text(json.dumps({"output-dir": "/train"}))
    (tmp_path / "config.jsonschema").write_text(json.dumps(
        {"type": "object", "properties": {"epochs": {"type": "integer", "minimum": 1}}}))
    merged = config.load_config(tmp_path, check_args=False)
    assert merged == {"epochs": 3, "output-dir": "/train"}
    calls: list[object] = []
    monkeypatch.setattr(config, "validate", lambda *a, **k: calls.append(a))
    monkeypatch.setattr(config, "merge", lambda *a, **k: calls.append(a) or {})
    # the dataset stage may drop a key on purpose; presets must not bring it back
    final = config.finalize_config({"epochs": 3}, ws=tmp_path)
    assert final == {"epochs": 3} and calls == []
    assert json.loads((tmp_path / "train_config.json").read_text()) == {"epochs": 3}
