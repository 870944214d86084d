"""Rule: args.py against every key that reaches train.py (config_to_args passes them as --key).

Keys come from config.jsonschema, train_config.json and presets.json (split keys never reach
train.py); each must be a declared long option whose kind (flag, value, list) fits.
"""

from __future__ import annotations

from typing import Any

from tcli.contract import CONFIG_SCHEMA, PRESETS, SETUP_KEYS, TRAIN_CONFIG
from tcli.parsers import args as args_parser
from tcli.project import TemplateRef
from tcli.schema import pointer
from tcli.validate.context import Context


def check_tree(ctx: Context) -> None:
    """Nothing outside the templates."""


def check(ctx: Context, ref: TemplateRef) -> None:
    """args.py of the template."""
    found = ctx.inputs(ref)
    _check_args(ctx, ref, found.schema, found.presets, found.train_cfg)


def _check_args(ctx: Context, ref: TemplateRef, schema: Any, presets: Any, train_cfg: Any) -> None:
    args_path = ref.docker_dir / "args.py"
    text = ctx.text(args_path)
    if text is None:
        return
    try:
        options = args_parser.parse_args_py(text, str(args_path))
    except SyntaxError:
        return  # reported as python.syntax
    if not options:
        ctx.add("warning", "args.none-found", args_path,
                 "no parser.add_argument('--...') calls found: cannot check the options "
                 "train.py accepts", "declare one long option per config key in args.py")
        return
    by_name: dict[str, args_parser.ArgOption] = {}
    for opt in options:
        for name in opt.long_names:
            by_name.setdefault(name, opt)
        if opt.positional and opt.nargs not in ("?", "*"):
            ctx.add("error", "args.positional", args_path,
                     f"positional argument {opt.flags[0]!r} is never given: config_to_args "
                     "passes only --options", f"make it an option: '--{opt.flags[0]}'",
                     line=opt.line)
    props = schema.get("properties", {}) if isinstance(schema, dict) else {}
    props = props if isinstance(props, dict) else {}
    # key -> (source file, values seen, schema type)
    keys: dict[str, tuple[str, list[Any], Any]] = {}

    def note(key: str, source: str, value: Any, has_value: bool) -> None:
        if key in SETUP_KEYS:
            return
        src, values, typ = keys.get(key, (source, [], None))
        if has_value:
            values.append(value)
        keys[key] = (src, values, typ)

    for key, spec in props.items():
        note(key, CONFIG_SCHEMA, spec.get("default") if isinstance(spec, dict)
             else None, isinstance(spec, dict) and "default" in spec)
        if key in keys and isinstance(spec, dict):
            src, values, _ = keys[key]
            keys[key] = (src, values, spec.get("type"))
    if isinstance(train_cfg, dict):
        for key, value in train_cfg.items():
            note(key, TRAIN_CONFIG, value, True)
    if isinstance(presets, dict):
        for key, value in presets.items():
            if value is None or value == "":
                continue
            note(key, PRESETS, value, True)
            if key in props:
                ctx.add("warning", "config.preset-overrides", ref.config_dir / PRESETS,
                         f"presets.json sets {key!r}, which overrides the user's form value",
                         "remove it from presets.json or from config.jsonschema",
                         pointer=pointer([key]))
    for key, (source, values, typ) in sorted(keys.items()):
        found = by_name.get(key)
        if found is None:
            ctx.add("error", "args.undeclared", args_path,
                     f"--{key} (key of {source}) is not declared: train.py would stop with "
                     "'unrecognized arguments'", f"add parser.add_argument('--{key}', ...)")
            continue
        opt = found
        is_bool = typ == "boolean" or any(isinstance(v, bool) for v in values)
        is_list = typ == "array" or any(isinstance(v, list) for v in values)
        is_other = typ in ("string", "number", "integer") or any(
            v is not None and not isinstance(v, bool | list) for v in values)
        if is_bool and opt.takes_value:
            ctx.add("error", "args.flag-mismatch", args_path,
                     f"--{key} is a boolean: config_to_args passes it as a bare flag, but "
                     "args.py expects a value", "use action='store_true'", line=opt.line)
        elif (is_other or is_list) and not opt.takes_value:
            ctx.add("error", "args.flag-mismatch", args_path,
                     f"--{key} takes no value in args.py, but {source} gives it one",
                     "drop the store_true action or make the key a boolean", line=opt.line)
        if is_list and opt.takes_value and not opt.takes_list:
            ctx.add("error", "args.nargs-missing", args_path,
                     f"--{key} is a list: config_to_args passes its items as separate "
                     "arguments, but args.py has no nargs", "add nargs='+' (or '*')",
                     line=opt.line)
    provided = set()
    if isinstance(presets, dict):
        provided |= {k for k, v in presets.items() if v is not None and v != ""}
    if isinstance(schema, dict) and isinstance(schema.get("required"), list):
        provided |= {k for k in schema["required"] if isinstance(k, str)}
    for opt in options:
        if opt.required and opt.long_names and not provided & set(opt.long_names):
            ctx.add("error", "args.required-not-provided", args_path,
                     f"--{opt.long_names[0]} is required by args.py, but neither presets.json "
                     "nor the required properties of config.jsonschema provide it",
                     "add it to presets.json, make it required in config.jsonschema, or "
                     "drop required=True", line=opt.line)
