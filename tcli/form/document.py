"""What ``tc form`` edits: a schema, the config file it describes, and the rules for saving it.

Two targets exist: a template's ``config/config.jsonschema`` -> ``config/train_config.json``,
and (``--export``) the project's ``export/export.jsonschema`` -> ``export/export_config.json``.
Saving validates with the rules ``tc validate`` applies (the same validator class choice,
meta-schema check, error order and pointers: the helpers below take them from tc validate),
then writes the file atomically (a temporary file in the same folder + ``os.replace``),
keeping the key order of the file on disk (new keys follow in the schema's property order)
and its indentation, so that diffs stay small. Nothing is ever written outside the project. No Typer, no Rich.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tcli.contract import CONFIG_SCHEMA, EXPORT_CONFIG, EXPORT_SCHEMA, TRAIN_CONFIG
from tcli.errors import InputError
from tcli.project import Project
from tcli.safety import atomic, jsonload, limits, schemas
from tcli.safety.confine import is_inside
from tcli.schema import form_defaults, pointer, validator_class

#: Largest schema or config file the form reads (tcli.safety.jsonload: size, depth, no NaN).
MAX_JSON_BYTES = jsonload.DEFAULT_MAX_BYTES


@dataclass(frozen=True)
class FormTarget:
    """One schema and the config file the form writes."""

    project: Project
    title: str
    template: str
    schema_path: Path
    schema: dict[str, Any]
    config_path: Path
    #: schemas the saved instance must satisfy (what ``tc validate`` checks it against), each
    #: with the root its ``$ref`` may resolve in (tcli.safety.schemas)
    check_schemas: tuple[tuple[Path, Path], ...]
    #: the keys the form may save: the ``properties`` of the schema and of the check schemas
    described: frozenset[str] = frozenset()

    @property
    def file(self) -> str:
        return self.config_path.relative_to(self.project.root).as_posix()


@dataclass
class SaveResult:
    """The outcome of one save: ``ok`` and the file, or the validation errors."""

    ok: bool
    file: str
    errors: list[dict[str, str]] = field(default_factory=list)
    text: str = ""


# ---- tc validate's schema rules (tcli.schema: the validator class, pointers, form defaults)
def _validator_class(schema: Any) -> Any:
    """The validator class tc validate uses for ``schema`` (draft 7 unless ``$schema`` says)."""
    return validator_class(schema)


def _pointer(path: Any) -> str:
    return pointer(path)


def _form_defaults(schema: dict[str, Any]) -> dict[str, Any]:
    return form_defaults(schema)


def _load_schema(path: Path, project: Project) -> dict[str, Any]:
    """A ``*.jsonschema`` checked against its meta-schema, as tc validate checks it: read with
    the limits of tcli.safety.jsonload, every ``$ref`` refused that tc validate refuses."""
    rel = path.relative_to(project.root).as_posix()
    fix = "fix it (tc validate lists every problem) and run tc form again"
    schema = schemas.load_schema(path, project.root, max_bytes=MAX_JSON_BYTES)
    if not isinstance(schema, dict):
        raise InputError(f"{rel}: a JSON Schema must be an object", "start the file with { ... }")
    for where, ref, why in schemas.refused_refs(schema, path.parent, project.root):
        raise InputError(f"{rel} at {where}: $ref {ref!r}: {why}", schemas.REF_FIX)
    cls = _validator_class(schema)
    errors = sorted(cls(cls.META_SCHEMA).iter_errors(schema),
                    key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        err = errors[0]
        raise InputError(f"{rel} at {_pointer(err.absolute_path)}: not a valid JSON Schema: "
                         f"{err.message}", fix)
    return schema


def inside(project: Project, path: Path) -> bool:
    """Whether ``path`` (links resolved) lies inside the project folder."""
    return is_inside(path, project.root)


def load_target(path: Path, template: str | None = None, export: bool = False) -> FormTarget:
    """The form of a project (``export``: the ONNX export form). InputError when unusable."""
    from tcli.paths import validation_dir

    project = Project.load(path)
    if export:
        schema_path = project.export_dir / EXPORT_SCHEMA
        config_path = project.export_dir / EXPORT_CONFIG
        key = "export"
        title = "ONNX export configuration"
        checks: tuple[tuple[Path, Path], ...] = ((validation_dir() / EXPORT_SCHEMA,
                                                  validation_dir()),)
    else:
        ref = project.select(template)
        schema_path = ref.config_dir / CONFIG_SCHEMA
        config_path = ref.config_dir / TRAIN_CONFIG
        key = ref.key
        title = f"{ref.architecture} training configuration"
        checks = ()
    if not schema_path.is_file():
        raise InputError(f"{schema_path}: missing", "the form renders this JSON Schema; restore it")
    for p in (schema_path, config_path):
        if not inside(project, p):
            raise InputError(f"{p}: resolves outside the project {project.root}",
                             "replace the link with a regular file inside the project")
    schema = _load_schema(schema_path, project)
    described = set(_properties(schema))
    for check, root in checks:
        described.update(_properties(schemas.load_schema(check, root, max_bytes=MAX_JSON_BYTES)))
    return FormTarget(project, title, key, schema_path, schema, config_path,
                      ((schema_path, project.root), *checks), frozenset(described))


#: keywords whose subschemas describe more properties of the same object
_SAME_OBJECT = ("allOf", "anyOf", "oneOf", "if", "then", "else", "dependencies",
                "dependentSchemas")


def _properties(schema: Any) -> set[str]:
    """The property names ``schema`` describes for its object, ``allOf``/``if``/``then``... too."""
    out: set[str] = set()
    stack, seen = [schema], 0
    while stack and seen < 10_000:
        cur, seen = stack.pop(), seen + 1
        if not isinstance(cur, dict):
            continue
        props = cur.get("properties")
        if isinstance(props, dict):
            out.update(props)
        for key in _SAME_OBJECT:
            sub = cur.get(key)
            if isinstance(sub, list):
                stack.extend(sub)
            elif key.startswith("depend") and isinstance(sub, dict):
                stack.extend(sub.values())
            elif isinstance(sub, dict):
                stack.append(sub)
    return out


def current(target: FormTarget) -> dict[str, Any]:
    """The form's initial data: the config file, or the schema defaults when it is absent."""
    if target.config_path.is_file():
        try:
            data = jsonload.load(target.config_path, max_bytes=MAX_JSON_BYTES, name=target.file)
        except InputError as exc:
            raise InputError(f"{exc.message} (unreadable JSON)",
                             "fix or delete the file; the form starts from the schema defaults "
                             "when it is absent") from None
        if not isinstance(data, dict):
            raise InputError(f"{target.config_path}: not a JSON object",
                             "it must hold one object of the schema's properties")
        return data
    return _form_defaults(target.schema)


def state(target: FormTarget) -> dict[str, Any]:
    """What ``GET api/form`` answers."""
    return {"title": target.title, "template": target.template, "file": target.file,
            "schema": target.schema, "formData": current(target)}


def _indent_of(text: str) -> int:
    for line in text.splitlines()[1:]:
        stripped = line.lstrip(" ")
        if stripped and len(stripped) < len(line):
            return len(line) - len(stripped)
    return 2


def merged(target: FormTarget, old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """``new`` in a stable key order: the old file's keys first, then the schema's order.

    Keys the schema does not describe (the form never shows them) are kept as they were; a
    ``number`` the browser sends as ``1`` stays ``1.0`` when the file or default held a float.
    """
    props = target.schema.get("properties")
    props = props if isinstance(props, dict) else {}
    order = list(old) + [k for k in props if k not in old] + [k for k in new if k not in old]
    out: dict[str, Any] = {}
    for key in dict.fromkeys(order):
        if key in new:
            value = new[key]
            raw = props.get(key)
            spec: dict[str, Any] = raw if isinstance(raw, dict) else {}
            floaty = isinstance(old.get(key), float) or isinstance(spec.get("default"), float)
            if (spec.get("type") == "number" and isinstance(value, int)
                    and not isinstance(value, bool) and floaty):
                value = float(value)
            out[key] = value
        elif key in old and key not in props:
            out[key] = old[key]
    return out


def validate_instance(target: FormTarget, data: Any) -> list[dict[str, str]]:
    """Errors of ``data`` under the rules ``tc validate`` uses (pointer + message)."""
    errors: list[dict[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for schema_path, root in target.check_schemas:
        schema = target.schema if schema_path == target.schema_path else \
            schemas.load_schema(schema_path, root, max_bytes=MAX_JSON_BYTES)
        found = sorted(schemas.iter_errors(schema, data, base_dir=schema_path.parent, root=root,
                                           name=schema_path.name),
                       key=lambda e: (list(map(str, e.absolute_path)), e.message))
        for err in found:
            item = (_pointer(err.absolute_path), str(err.message))
            if item not in seen:
                seen.add(item)
                errors.append({"pointer": item[0], "message": item[1]})
    return errors


def atomic_write(target: FormTarget, text: str) -> None:
    """Write ``text`` to the config file atomically (:mod:`tcli.safety.atomic`)."""
    path = target.config_path
    if not inside(target.project, path) or path.is_symlink():
        raise InputError(f"{path}: refusing to write through a link or outside the project")
    atomic.write_bytes(path, text.encode("utf-8"))


def refused_values(target: FormTarget, old: dict[str, Any], new: dict[str, Any]
                   ) -> list[dict[str, str]]:
    """What the form never saves: a key the schema's ``properties`` do not describe (the form
    shows none; ``help`` or ``--output-dir`` would become an argument of train.py), unless the
    file on disk already holds it with that value; and NaN/Infinity anywhere (not JSON)."""
    errors = [{"pointer": pointer([key]),
               "message": f"{key!r} is not a property of {target.schema_path.name}; "
                          "the form saves only the properties the schema describes"}
              for key in new if key not in target.described
              and (key not in old or old[key] != new[key])]
    stack: list[tuple[Any, list[Any]]] = [(new, [])]
    while stack:
        cur, at = stack.pop()
        if isinstance(cur, float) and not math.isfinite(cur):
            errors.append({"pointer": pointer(at),
                           "message": f"{cur} is not a JSON number; give a finite number"})
        elif isinstance(cur, dict):
            stack.extend((v, [*at, k]) for k, v in cur.items())
        elif isinstance(cur, list):
            stack.extend((v, [*at, i]) for i, v in enumerate(cur))
    return sorted(errors, key=lambda e: e["pointer"])


def save(target: FormTarget, data: Any) -> SaveResult:
    """Validate ``data`` and, when valid, write it; never raises for invalid data."""
    if not isinstance(data, dict):
        return SaveResult(False, target.file, [{"pointer": "", "message": "not a JSON object"}])
    old: dict[str, Any] = {}
    indent = 2
    if target.config_path.is_file():
        try:
            raw = limits.read_bytes(target.config_path, max_bytes=MAX_JSON_BYTES, what=target.file)
            text = raw.decode("utf-8")
            indent = _indent_of(text)
            loaded = jsonload.loads(raw, name=target.file, max_bytes=MAX_JSON_BYTES)
            old = loaded if isinstance(loaded, dict) else {}
        except (OSError, UnicodeDecodeError, InputError):
            old = {}
    refused = refused_values(target, old, data)
    if refused:
        return SaveResult(False, target.file, refused)
    instance = merged(target, old, data)
    errors = validate_instance(target, instance)
    if errors:
        return SaveResult(False, target.file, errors)
    out = json.dumps(instance, indent=indent, ensure_ascii=False) + "\n"
    atomic_write(target, out)
    return SaveResult(True, target.file, [], out)
