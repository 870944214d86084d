# Managed by tc (`tc update` brings its new versions) — edit train.py instead.
"""Training configuration of a train container: load, merge, validate, finalize.

Merge order (later wins): defaults of ``config.jsonschema`` < ``train_config.json`` (the
platform's form input) < ``presets.json`` < the ``custom`` dict passed by code. The
platform's ``custom.json`` (model_filepath, score_*) is never read: it does not reach
train.py. Key order: train_config.json first, then schema defaults, then presets.

``load_config`` merges once and validates the result against ``config.jsonschema`` (every
violation reported with its key). ``finalize_config`` takes that merged config as it is (no
second merge, no second validation), rewrites ``/datasets``, ``/train``, ``/minio`` paths to
``DATASETS_ROOT``/``TRAIN_ROOT``/``MINIO_ROOT`` when those are set, and writes the final
``train_config.json`` atomically. The workspace is the folder of this file (``/workspace``
in the image), or ``WORKSPACE``.

``config_to_args`` is the leaf below this module: ConfigError, the reserved keys, JSON
reading (duplicate keys refused) and the args.py check live there; it never imports this one.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import config_to_args
from config_to_args import CONFIG_FILE, RESERVED_KEYS, ConfigError, read_json, workspace

__all__ = ["CONFIG_FILE", "RESERVED_KEYS", "ConfigError", "finalize_config", "load_config",
           "merge", "read_json", "remap_paths", "validate", "workspace"]

ROOTS = (("/datasets", "DATASETS_ROOT"), ("/train", "TRAIN_ROOT"), ("/minio", "MINIO_ROOT"))
PRESETS_FILE = "presets.json"
SCHEMA_FILE = "config.jsonschema"


def _object(value: Any, path: Path) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: must be a JSON object, not {type(value).__name__}")
    return value


def find_schema(ws: Path) -> Path | None:
    """``config.jsonschema`` in the workspace, or in ``../config/`` (the project layout)."""
    for cand in (ws / SCHEMA_FILE, ws.parent / "config" / SCHEMA_FILE):
        if cand.is_file():
            return cand
    return None


def schema_defaults(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Top-level ``default`` values of the schema's properties, in schema order."""
    props = schema.get("properties") or {}
    return {k: v["default"] for k, v in props.items() if isinstance(v, dict) and "default" in v}


def merge(train_config: Mapping[str, Any], *layers: Mapping[str, Any] | None,
          defaults: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``train_config`` + missing ``defaults``, then each layer overriding (later wins)."""
    out = dict(train_config)
    for k, v in (defaults or {}).items():
        out.setdefault(k, v)
    for layer in layers:
        out.update(layer or {})
    return out


def validate(config: Mapping[str, Any], schema: Mapping[str, Any], *, source: str = "config"
             ) -> None:
    """Raise ConfigError listing every schema violation with its key."""
    import jsonschema

    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ConfigError(f"{SCHEMA_FILE}: not a valid JSON Schema: {exc.message}") from None
    errors = sorted(cls(schema).iter_errors(dict(config)),
                    key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        lines = []
        for e in errors:
            key = "/".join(str(p) for p in e.absolute_path)
            if not key and e.validator == "required":
                key = "(missing key)"
            lines.append(f"{key or '(top level)'}: {e.message}")
        raise ConfigError(f"{source}: {len(errors)} schema violation(s): " + "; ".join(lines))


def remap_paths(config: Mapping[str, Any], env: Mapping[str, str] | None = None
                ) -> dict[str, Any]:
    """Rewrite string values equal to or under ``/datasets``, ``/train``, ``/minio`` to the
    roots set in the environment (unset roots are left alone). Lists are handled too."""
    env = os.environ if env is None else env
    pairs = [(prefix, env[var].rstrip("/") or "/") for prefix, var in ROOTS if env.get(var)]

    def one(v: Any) -> Any:
        if isinstance(v, str):
            for prefix, new in pairs:
                if v == prefix or v.startswith(prefix + "/"):
                    return new + v[len(prefix):]
            return v
        if isinstance(v, list):
            return [one(x) for x in v]
        return v

    return {k: one(v) for k, v in config.items()}


def load_config(ws: Path | None = None, *, custom: Mapping[str, Any] | None = None,
                check_args: bool = True) -> dict[str, Any]:
    """Merged and validated configuration (paths not yet remapped).

    Also checks, when ``args.py`` is in the workspace, that it declares every key, so a
    mistake fails before the dataset stage rather than after it.
    """
    ws = ws or workspace()
    cfg_path = ws / CONFIG_FILE
    train_config = _object(read_json(cfg_path), cfg_path)
    presets_path = ws / PRESETS_FILE
    presets = _object(read_json(presets_path, required=False), presets_path)
    schema_path = find_schema(ws)
    schema = _object(read_json(schema_path), schema_path) if schema_path else {}
    merged = merge(train_config, presets, custom, defaults=schema_defaults(schema))
    if schema:
        validate(merged, schema, source=f"{cfg_path} + {PRESETS_FILE}")
    if check_args and (ws / "args.py").is_file():
        config_to_args.check_declared(merged, ws / "args.py")
    return merged


def finalize_config(config: Mapping[str, Any] | None = None,
                    custom: Mapping[str, Any] | None = None, *, ws: Path | None = None,
                    write: bool = True) -> dict[str, Any]:
    """Remap paths of the merged ``config`` and write ``train_config.json`` (atomically).

    ``config`` is what :func:`load_config` returned: already merged and validated, so it is
    not merged with presets or validated again. Without it, :func:`load_config` (with
    ``custom``) makes it. ``custom`` given together with ``config`` is the one new layer: it
    is applied on top and only the result of that is validated. Idempotent: running it again
    on its own output gives the same file. Returns the final config."""
    ws = ws or workspace()
    if config is None:
        merged = load_config(ws, custom=custom)
    elif custom:
        merged = merge(config, custom)
        schema_path = find_schema(ws)
        if schema_path:
            validate(merged, _object(read_json(schema_path), schema_path),
                     source=f"{ws / CONFIG_FILE} + custom")
    else:
        merged = dict(config)
    final = remap_paths(merged)
    if write:
        path = ws / CONFIG_FILE
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with tmp.open("w", encoding="utf-8") as fh:
                fh.write(json.dumps(final, indent=2, ensure_ascii=False) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise ConfigError(f"{path}: cannot write: {exc.strerror or exc}") from None
    return final


def main(argv: Sequence[str] | None = None) -> int:
    """``python config.py``: finalize train_config.json in the workspace and print it."""
    del argv
    try:
        final = finalize_config()
    except ConfigError as exc:
        print(f"config: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(final, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
