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
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tcli.errors import InputError
from tcli.project import Project
from tcli.schema import form_defaults, pointer, validator_class


@dataclass(frozen=True)
class FormTarget:
    """One schema and the config file the form writes."""

    project: Project
    title: str
    template: str
    schema_path: Path
    schema: dict[str, Any]
    config_path: Path
    #: schemas the saved instance must satisfy (what ``tc validate`` checks it against)
    check_schemas: tuple[Path, ...]

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
    """A ``*.jsonschema`` checked against its meta-schema, as tc validate checks it."""
    rel = path.relative_to(project.root).as_posix()
    fix = "fix it (tc validate lists every problem) and run tc form again"
    try:
        schema = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise InputError(f"{rel}: not UTF-8 text", "save the file as UTF-8") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{rel} line {exc.lineno}: invalid JSON: {exc.msg}", fix) from None
    if not isinstance(schema, dict):
        raise InputError(f"{rel}: a JSON Schema must be an object", "start the file with { ... }")
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
    try:
        path.resolve().relative_to(project.root.resolve())
    except ValueError:
        return False
    return True


def load_target(path: Path, template: str | None = None, export: bool = False) -> FormTarget:
    """The form of a project (``export``: the ONNX export form). InputError when unusable."""
    from tcli.paths import validation_dir

    project = Project.load(path)
    if export:
        schema_path = project.export_dir / "export.jsonschema"
        config_path = project.export_dir / "export_config.json"
        key = "export"
        title = "ONNX export configuration"
        checks: tuple[Path, ...] = (validation_dir() / "export.jsonschema",)
    else:
        ref = project.select(template)
        schema_path = ref.config_dir / "config.jsonschema"
        config_path = ref.config_dir / "train_config.json"
        key = ref.key
        title = f"{ref.architecture} training configuration"
        checks = (schema_path,)
    if not schema_path.is_file():
        raise InputError(f"{schema_path}: missing", "the form renders this JSON Schema; restore it")
    for p in (schema_path, config_path):
        if not inside(project, p):
            raise InputError(f"{p}: resolves outside the project {project.root}",
                             "replace the link with a regular file inside the project")
    schema = _load_schema(schema_path, project)
    return FormTarget(project, title, key, schema_path, schema, config_path,
                      tuple(dict.fromkeys((schema_path, *checks))))


def current(target: FormTarget) -> dict[str, Any]:
    """The form's initial data: the config file, or the schema defaults when it is absent."""
    if target.config_path.is_file():
        try:
            data = json.loads(target.config_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"{target.config_path}: unreadable JSON ({exc})",
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
    for schema_path in target.check_schemas:
        schema = json.loads(schema_path.read_text(encoding="utf-8"))
        cls = _validator_class(schema)
        found = sorted(cls(schema).iter_errors(data),
                       key=lambda e: (list(map(str, e.absolute_path)), e.message))
        for err in found:
            item = (_pointer(err.absolute_path), str(err.message))
            if item not in seen:
                seen.add(item)
                errors.append({"pointer": item[0], "message": item[1]})
    return errors


def atomic_write(target: FormTarget, text: str) -> None:
    """Write ``text`` to the config file: temporary file in the same folder, then os.replace."""
    path = target.config_path
    if not inside(target.project, path) or path.is_symlink():
        raise InputError(f"{path}: refusing to write through a link or outside the project")
    folder = path.parent
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save(target: FormTarget, data: Any) -> SaveResult:
    """Validate ``data`` and, when valid, write it; never raises for invalid data."""
    if not isinstance(data, dict):
        return SaveResult(False, target.file, [{"pointer": "", "message": "not a JSON object"}])
    old: dict[str, Any] = {}
    indent = 2
    if target.config_path.is_file():
        text = target.config_path.read_text(encoding="utf-8")
        indent = _indent_of(text)
        try:
            loaded = json.loads(text)
            old = loaded if isinstance(loaded, dict) else {}
        except json.JSONDecodeError:
            old = {}
    instance = merged(target, old, data)
    errors = validate_instance(target, instance)
    if errors:
        return SaveResult(False, target.file, errors)
    out = json.dumps(instance, indent=indent, ensure_ascii=False) + "\n"
    atomic_write(target, out)
    return SaveResult(True, target.file, [], out)
