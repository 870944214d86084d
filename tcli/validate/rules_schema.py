"""Rules: every JSON Schema against its meta-schema, and each config file against its schema.

presets.json and custom.json against tc's schemas, config.jsonschema's defaults against
itself, train_config.json against config.jsonschema, export_config.json against the
platform's export.jsonschema.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tcli.contract import (
    CONFIG_SCHEMA,
    CUSTOM_JSON,
    DEV_ONLY_DIRS,
    EXPORT_CONFIG,
    EXPORT_SCHEMA,
    PRESETS,
    TRAIN_CONFIG,
)
from tcli.paths import validation_dir
from tcli.project import TemplateRef
from tcli.schema import pointer
from tcli.validate.context import MISSING, Context


def check_tree(ctx: Context) -> None:
    if ctx.tree.export_dir is None:
        return
    export_schema = ctx.tree.export_dir / EXPORT_SCHEMA
    if export_schema.is_file():
        ctx.meta_check(export_schema)
    config = ctx.tree.export_dir / EXPORT_CONFIG
    instance = ctx.json(config)
    if instance is MISSING:
        return
    platform_schema = json.loads((validation_dir() / EXPORT_SCHEMA).read_text("utf-8"))
    ctx.instance_check(config, instance, platform_schema, "export.schema-violation",
                         "make export_config.json an instance of the platform's "
                         "export.jsonschema (its 'ONNX Export Configuration' form)")


def check(ctx: Context, ref: TemplateRef) -> None:
    """The schemas of a template and the config files they describe."""
    cfg = ref.config_dir
    for path in sorted(ref.path.rglob("*.jsonschema")):
        if not any(part in DEV_ONLY_DIRS for part in path.relative_to(ref.path).parts):
            ctx.meta_check(path)
    found = ctx.inputs(ref)
    schema, train_cfg = found.schema, found.train_cfg
    if found.presets is not MISSING:
        ctx.instance_check(cfg / PRESETS, found.presets, ctx.spec("tc-presets.jsonschema"),
                           "presets.invalid",
                           "presets.json needs output-dir, images-dir and labels-dir (strings)")
    if found.custom is not MISSING:
        ctx.instance_check(cfg / CUSTOM_JSON, found.custom, ctx.spec("tc-custom.jsonschema"),
                           "custom.invalid",
                           "custom.json needs model_filepath, score_name and score_regexp "
                           "(strings)")
    if not isinstance(schema, dict) or found.defaults is None:
        return
    _check_defaults(ctx, cfg / CONFIG_SCHEMA, schema, found.defaults)
    if train_cfg is not MISSING:
        ctx.instance_check(cfg / TRAIN_CONFIG, train_cfg, schema,
                           "config.schema-violation",
                           "make train_config.json an instance of config.jsonschema "
                           "(it stands in for the platform's form input)")
    if isinstance(train_cfg, dict):
        props = schema.get("properties", {})
        for key in train_cfg:
            if isinstance(props, dict) and key not in props:
                ctx.add("warning", "config.not-in-schema", cfg / TRAIN_CONFIG,
                        f"key {key!r} is not a property of config.jsonschema: the "
                        "platform's form never sends it",
                        "add it to config.jsonschema or to presets.json",
                        pointer=pointer([key]))


def _check_defaults(ctx: Context, path: Path, schema: dict[str, Any],
                    defaults: dict[str, Any]) -> None:
    def where(err: Any) -> str:
        if err.validator == "required":
            return "/required"
        if err.absolute_path:
            return pointer(["properties", err.absolute_path[0], "default",
                            *list(err.absolute_path)[1:]])
        return ""

    cls = ctx.validator(schema)
    for err in sorted(cls(schema).iter_errors(defaults), key=lambda e: e.message):
        if err.validator == "required":
            ctx.add("warning", "config.no-default", path,
                     f"required property without a default: {err.message}",
                     "give it a default so the platform's form starts valid",
                     pointer="/required")
            continue
        ctx.add("error", "config.bad-default", path, f"default is invalid: {err.message}",
                 "make the default satisfy its own property's rules", pointer=where(err))
