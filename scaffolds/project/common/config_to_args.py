# Managed by tc (`tc update` brings its new versions) — edit train.py instead.
"""Turn the final ``train_config.json`` into an argv list and exec ``train.py`` (no shell).

Rules (platform contract §4), in file order:

* ``train-split``, ``test-split`` and ``split`` are left out (setup.py uses them);
* ``null`` and ``""`` are left out; ``true`` -> ``--key``; ``false`` is left out;
* a list -> ``--key item1 item2 ...`` (an empty list is left out);
* a dict -> ``--key <its JSON>``;
* anything else -> ``--key value``: the value is ONE argv element, whatever spaces or shell
  characters it holds (a string starting with ``-`` becomes ``--key=value`` so argparse
  cannot mistake it for an option).

Hostile values are refused with a ConfigError naming the key, never passed on:

* a list item starting with ``-`` (``"--output-dir=/x"``, ``"-h"``) would become an option of
  train.py; it is refused unless it is a number or args.py declares that option with
  ``nargs=argparse.REMAINDER`` (such options go last, so they can take anything);
* the key ``help`` (argparse's own ``--help`` would print and exit 0 without training);
* an element longer than Linux's MAX_ARG_STRLEN (128 KiB), or an argv + environment larger
  than ARG_MAX: ``execv`` would fail with "Argument list too long".

Every key must be declared by ``args.py`` (its ``build_parser()``, or else the ``--option``
strings of its ``add_argument`` calls); otherwise training does not start.
``python config_to_args.py --print`` prints the argv as JSON instead of running train.py.

This module is the leaf of the runtime: it imports no other runtime module; ``config.py``
uses it (ConfigError, the reserved keys, reading JSON, ``check_declared``).
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import os
import re
import shlex
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

RESERVED_KEYS = ("train-split", "test-split", "split")
#: Keys that would switch train.py's argparse into something other than training.
REFUSED_KEYS = ("help",)
CONFIG_FILE = "train_config.json"
KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
NUMBER_RE = re.compile(r"^-\d+(\.\d*)?([eE][-+]?\d+)?\Z")
#: Linux: the longest single argv/env string, terminating NUL included (32 pages).
MAX_ARG_STRLEN = 32 * 4096


class ConfigError(Exception):
    """A configuration problem; the message names the file and the key(s)."""


def workspace() -> Path:
    """The folder with the scripts and JSON files (``WORKSPACE`` or this file's folder)."""
    env = os.environ.get("WORKSPACE")
    return Path(env) if env else Path(__file__).resolve().parent


def _no_duplicates(path: Path) -> Any:
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in pairs:
            if k in out:
                raise ConfigError(f"{path}: duplicate key {k!r}; keep one of them")
            out[k] = v
        return out
    return hook


def read_json(path: Path, *, required: bool = True) -> Any:
    """Parse a JSON file; a clear ConfigError names the file (and line) when it is bad."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if required:
            raise ConfigError(f"{path}: missing") from None
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read as UTF-8 text ({exc})") from None
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates(path))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: "
                          f"{exc.msg}") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply") from None


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


def _check_length(key: str, text: str) -> None:
    size = len(text.encode("utf-8", "surrogateescape")) + 1
    if size > MAX_ARG_STRLEN:
        raise ConfigError(
            f"{key}: a value of {size - 1} bytes cannot be a command-line argument (the OS "
            f"limit is {MAX_ARG_STRLEN - 1} bytes per argument); put the data in a file and "
            "pass its path")


def config_to_argv(config: Mapping[str, Any], reserved: Sequence[str] = RESERVED_KEYS, *,
                   dash_ok: Iterable[str] = ()) -> list[str]:
    """The argv list for ``train.py`` (see the module docstring for the rules).

    ``dash_ok``: options (``--name``) declared with ``nargs=argparse.REMAINDER`` in args.py;
    their list items may start with ``-``, and they are put last.
    """
    remainder = set(dash_ok)
    argv: list[str] = []
    tail: list[str] = []
    for key, value in config.items():
        if key in reserved:
            continue
        if not isinstance(key, str) or not KEY_RE.match(key):
            raise ConfigError(f"config key {key!r} cannot be a command-line option (use "
                              "letters, digits, '-', '_', '.')")
        if key in REFUSED_KEYS:
            raise ConfigError(f"config key {key!r} is refused: --{key} would make train.py "
                              "print its usage and exit without training; rename the key")
        opt = "--" + key
        out = tail if opt in remainder else argv
        if value is None or value == "" or value is False:
            continue
        if value is True:
            out.append(opt)
        elif isinstance(value, list):
            if value:
                items = [_scalar(v, key) for v in value]
                for item in items:
                    if item.startswith("-") and opt not in remainder and not NUMBER_RE.match(item):
                        raise ConfigError(
                            f"{key}: list item {item!r} starts with '-' and would become an "
                            f"option of train.py; remove it, or declare {opt} in args.py with "
                            "nargs=argparse.REMAINDER to accept such values")
                    _check_length(key, item)
                out.append(opt)
                out.extend(items)
        elif isinstance(value, dict):
            text = json.dumps(value, ensure_ascii=False)
            _check_length(key, text)
            out += [opt, text]
        else:
            text = _scalar(value, key)
            if text.startswith("-") and not NUMBER_RE.match(text):
                _check_length(key, f"{opt}={text}")
                out.append(f"{opt}={text}")
            else:
                _check_length(key, text)
                out += [opt, text]
    return argv + tail


def check_exec_size(cmd: Sequence[str], env: Mapping[str, str] | None = None) -> None:
    """ConfigError when ``cmd`` plus the environment exceed the OS's ARG_MAX."""
    env = os.environ if env is None else env
    try:
        arg_max = os.sysconf("SC_ARG_MAX")
    except (ValueError, OSError):
        arg_max = 2 * 1024 * 1024
    ptr = 8
    total = sum(len(a.encode("utf-8", "surrogateescape")) + 1 + ptr for a in cmd)
    total += sum(len(f"{k}={v}".encode("utf-8", "surrogateescape")) + 1 + ptr for k, v in env.items())
    if total > arg_max:
        raise ConfigError(
            f"the command line for train.py would be {total} bytes with the environment, more "
            f"than the OS limit ARG_MAX of {arg_max}; put large values in a file and pass its path")


def _parser_info(args_py: Path) -> tuple[set[str], set[str]]:
    """(long options, long options with nargs=REMAINDER) of ``args.py``."""
    opts: set[str] = set()
    rest: set[str] = set()
    try:
        spec = importlib.util.spec_from_file_location("_tc_args", args_py)
        if spec and spec.loader:
            mod = importlib.util.module_from_spec(spec)
            sys.path.insert(0, str(args_py.parent))
            no_pyc, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # write nothing
            try:
                spec.loader.exec_module(mod)
            finally:
                sys.dont_write_bytecode = no_pyc
                sys.path.remove(str(args_py.parent))
            build = getattr(mod, "build_parser", None)
            parser = build() if callable(build) else getattr(mod, "parser", None)
            for action in getattr(parser, "_actions", []):
                longs = {o for o in action.option_strings if o.startswith("--")}
                opts.update(longs)
                if action.nargs == argparse.REMAINDER:
                    rest.update(longs)
    except Exception:  # fall back to reading the source
        opts, rest = set(), set()
    if not opts:
        try:
            tree = ast.parse(args_py.read_text(encoding="utf-8"))
        except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
            return set(), set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_argument":
                longs = {a.value for a in node.args if isinstance(a, ast.Constant)
                         and isinstance(a.value, str) and a.value.startswith("--")}
                opts.update(longs)
                for kw in node.keywords:
                    v = kw.value
                    if kw.arg == "nargs" and (
                            (isinstance(v, ast.Constant) and v.value == argparse.REMAINDER)
                            or (isinstance(v, ast.Attribute) and v.attr == "REMAINDER")):
                        rest.update(longs)
    return opts, rest


def declared_options(args_py: Path) -> set[str] | None:
    """Long options declared by ``args.py``: from ``build_parser()`` when it has one, else
    from the string literals of its ``add_argument`` calls. None when it declares none."""
    return _parser_info(args_py)[0] or None


def remainder_options(args_py: Path) -> set[str]:
    """Long options that ``args.py`` declares with ``nargs=argparse.REMAINDER``."""
    return _parser_info(args_py)[1]


def check_declared(config: Mapping[str, Any], args_py: Path) -> None:
    """Raise ConfigError naming every config key that ``args.py`` does not declare."""
    declared = declared_options(args_py)
    if declared is None:
        return
    missing = [k for k, v in config.items()
               if k not in RESERVED_KEYS and f"--{k}" not in declared
               and not (v is None or v == "" or v is False or v == [])]
    if missing:
        raise ConfigError(
            f"{args_py}: does not declare {', '.join('--' + k for k in missing)} "
            f"(key(s) of train_config.json/presets.json); add parser.add_argument(...) for "
            "each or remove the key")


def main(argv: Sequence[str] | None = None) -> int:
    """Build the argv from the final config and exec train.py with it."""
    ws = workspace()
    p = argparse.ArgumentParser(description="Run train.py with the final train_config.json.")
    p.add_argument("--config", type=Path, default=ws / CONFIG_FILE)
    p.add_argument("--train", type=Path, default=ws / "train.py")
    p.add_argument("--print", dest="print_only", action="store_true",
                   help="print the argv list as JSON and exit")
    a = p.parse_args(argv)
    try:
        cfg = read_json(a.config)
        if not isinstance(cfg, dict):
            raise ConfigError(f"{a.config}: must be a JSON object")
        args_py = a.train.parent / "args.py"
        dash_ok: set[str] = set()
        if args_py.is_file():
            check_declared(cfg, args_py)
            dash_ok = remainder_options(args_py)
        args = config_to_argv(cfg, dash_ok=dash_ok)
        cmd = [sys.executable, str(a.train), *args]
        check_exec_size(cmd)
    except ConfigError as exc:
        print(f"config_to_args: error: {exc}", file=sys.stderr)
        return 2
    if a.print_only:
        print(json.dumps(args))
        return 0
    if not a.train.is_file():
        print(f"config_to_args: error: {a.train}: missing", file=sys.stderr)
        return 2
    print(f"[train] {shlex.join(['python', a.train.name, *args])}", flush=True)
    sys.stderr.flush()
    os.chdir(a.train.parent)
    try:
        os.execv(cmd[0], cmd)
    except OSError as exc:
        print(f"config_to_args: error: cannot start {a.train}: {exc.strerror or exc}",
              file=sys.stderr)
        return 126
    return 127  # pragma: no cover - execv does not return


if __name__ == "__main__":
    sys.exit(main())
