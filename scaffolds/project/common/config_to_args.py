"""Turn the final ``train_config.json`` into an argv list and exec ``train.py`` (no shell).

Rules (platform contract §4), in file order:

* ``train-split`` and ``test-split`` are left out (setup.py uses them);
* ``null`` and ``""`` are left out; ``true`` -> ``--key``; ``false`` is left out;
* a list -> ``--key item1 item2 ...`` (an empty list is left out);
* a dict -> ``--key <its JSON>``;
* anything else -> ``--key value``: the value is ONE argv element, whatever spaces or shell
  characters it holds (a string starting with ``-`` becomes ``--key=value`` so argparse
  cannot mistake it for an option).

Every key must be declared by ``args.py`` (its ``build_parser()``, or else the ``--option``
strings of its ``add_argument`` calls); otherwise training does not start.
``python config_to_args.py --print`` prints the argv as JSON instead of running train.py.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import config as _config

ConfigError = _config.ConfigError
KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
NUMBER_RE = re.compile(r"^-\d+(\.\d*)?([eE][-+]?\d+)?$")


def _scalar(value: Any, key: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return value
    if value is None:
        raise ConfigError(f"{key}: null inside a list cannot become an argument")
    return json.dumps(value, ensure_ascii=False)


def config_to_argv(config: Mapping[str, Any],
                   reserved: Sequence[str] = _config.RESERVED_KEYS) -> list[str]:
    """The argv list for ``train.py`` (see the module docstring for the rules)."""
    argv: list[str] = []
    for key, value in config.items():
        if key in reserved:
            continue
        if not isinstance(key, str) or not KEY_RE.match(key):
            raise ConfigError(f"config key {key!r} cannot be a command-line option (use "
                              "letters, digits, '-', '_', '.')")
        opt = "--" + key
        if value is None or value == "" or value is False:
            continue
        if value is True:
            argv.append(opt)
        elif isinstance(value, list):
            if value:
                argv.append(opt)
                argv.extend(_scalar(v, key) for v in value)
        elif isinstance(value, dict):
            argv += [opt, json.dumps(value, ensure_ascii=False)]
        else:
            text = _scalar(value, key)
            if text.startswith("-") and not NUMBER_RE.match(text):
                argv.append(f"{opt}={text}")
            else:
                argv += [opt, text]
    return argv


def declared_options(args_py: Path) -> set[str] | None:
    """Long options declared by ``args.py``: from ``build_parser()`` when it has one, else
    from the string literals of its ``add_argument`` calls. None when it declares none."""
    opts: set[str] = set()
    try:
        spec = importlib.util.spec_from_file_location("_tc_args", args_py)
        if spec and spec.loader:
            mod = importlib.util.module_from_spec(spec)
            sys.path.insert(0, str(args_py.parent))
            try:
                spec.loader.exec_module(mod)
            finally:
                sys.path.remove(str(args_py.parent))
            build = getattr(mod, "build_parser", None)
            parser = build() if callable(build) else getattr(mod, "parser", None)
            for action in getattr(parser, "_actions", []):
                opts.update(o for o in action.option_strings if o.startswith("--"))
    except Exception:  # fall back to reading the source
        opts = set()
    if not opts:
        try:
            tree = ast.parse(args_py.read_text(encoding="utf-8"))
        except (OSError, SyntaxError):
            return None
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_argument":
                for a in node.args:
                    if isinstance(a, ast.Constant) and isinstance(a.value, str) and \
                            a.value.startswith("--"):
                        opts.add(a.value)
    return opts or None


def check_declared(config: Mapping[str, Any], args_py: Path) -> None:
    """Raise ConfigError naming every config key that ``args.py`` does not declare."""
    declared = declared_options(args_py)
    if declared is None:
        return
    missing = [k for k, v in config.items()
               if k not in _config.RESERVED_KEYS and f"--{k}" not in declared
               and not (v is None or v == "" or v is False or v == [])]
    if missing:
        raise ConfigError(
            f"{args_py}: does not declare {', '.join('--' + k for k in missing)} "
            f"(key(s) of train_config.json/presets.json); add parser.add_argument(...) for "
            "each or remove the key")


def main(argv: Sequence[str] | None = None) -> int:
    """Build the argv from the final config and exec train.py with it."""
    import argparse

    ws = _config.workspace()
    p = argparse.ArgumentParser(description="Run train.py with the final train_config.json.")
    p.add_argument("--config", type=Path, default=ws / _config.CONFIG_FILE)
    p.add_argument("--train", type=Path, default=ws / "train.py")
    p.add_argument("--print", dest="print_only", action="store_true",
                   help="print the argv list as JSON and exit")
    a = p.parse_args(argv)
    try:
        cfg = _config.read_json(a.config)
        if not isinstance(cfg, dict):
            raise ConfigError(f"{a.config}: must be a JSON object")
        args = config_to_argv(cfg)
        args_py = a.train.parent / "args.py"
        if args_py.is_file():
            check_declared(cfg, args_py)
    except ConfigError as exc:
        print(f"config_to_args: error: {exc}", file=sys.stderr)
        return 2
    if a.print_only:
        print(json.dumps(args))
        return 0
    if not a.train.is_file():
        print(f"config_to_args: error: {a.train}: missing", file=sys.stderr)
        return 2
    cmd = [sys.executable, str(a.train), *args]
    print(f"[train] {shlex.join(['python', a.train.name, *args])}", flush=True)
    sys.stderr.flush()
    os.chdir(a.train.parent)
    os.execv(cmd[0], cmd)
    return 127  # pragma: no cover - execv does not return


if __name__ == "__main__":
    sys.exit(main())
