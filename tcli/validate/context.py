"""The shared context of the rules: the tree checked, a file cache, and the findings sink.

A rule never reads a file twice or reports a broken file twice: :meth:`Context.text` and
:meth:`Context.json` cache and report once; :meth:`Context.add` drops repeated findings.
:meth:`Context.inputs` parses a template's config files once for every rule.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from tcli.contract import (
    CONFIG_SCHEMA,
    CUSTOM_JSON,
    DEFAULT_MAX_FILE_SIZE,
    DEV_ONLY_DIRS,
    PRESETS,
    PUBLISH_DIR,
    RUNTIME_FILES,
    TRAIN_CONFIG,
)
from tcli.errors import InputError
from tcli.paths import validation_dir
from tcli.project import Project, TemplateRef
from tcli.safety import jsonload, limits, schemas
from tcli.schema import form_defaults, pointer
from tcli.validate.findings import Finding, Severity

#: A file that is missing or unreadable (already reported).
MISSING: Any = object()


@dataclass(frozen=True)
class Tree:
    """What the rules look at: a project or an extracted ZIP."""

    kind: Literal["project", "zip"]
    root: Path
    common_dir: Path
    runtime: dict[str, Path]
    templates: list[TemplateRef]
    export_dir: Path | None = None


def project_tree(project: Project, keys: list[str] | None = None) -> Tree:
    refs = project.templates()
    if keys:
        refs = [project.select(k) for k in keys]
    return Tree(
        kind="project", root=project.root, common_dir=project.root / "common",
        runtime={name: project.root / rel for name, rel in RUNTIME_FILES.items()},
        templates=refs, export_dir=project.export_dir,
    )


def zip_tree(root: Path) -> Tree:
    """The tree of a ZIP extracted into ``root`` (templates are the P/C/A folders found)."""
    top = root / PUBLISH_DIR
    refs: list[TemplateRef] = []
    if top.is_dir():
        for arch in sorted(top.glob("*/*/*")):
            if arch.is_dir():
                p, c, a = arch.relative_to(top).parts
                if p not in DEV_ONLY_DIRS:
                    refs.append(TemplateRef(p, c, a, arch))
    return Tree(kind="zip", root=root, common_dir=top,
                runtime={name: top / name for name in RUNTIME_FILES}, templates=refs)


@dataclass(frozen=True)
class TemplateInputs:
    """A template's config files, parsed once (MISSING where absent or broken)."""

    schema: Any
    presets: Any
    custom: Any
    train_cfg: Any
    defaults: dict[str, Any] | None


class Context:
    """What every rule gets: the tree, the inputs of the run, caches and the findings."""

    def __init__(self, tree: Tree, *, log_text: str | None = None, log_name: str = "",
                 max_file_size: int = DEFAULT_MAX_FILE_SIZE) -> None:
        self.tree = tree
        self.log_text = log_text
        self.log_name = log_name
        self.max_file_size = max_file_size
        self.findings: list[Finding] = []
        self._json: dict[Path, Any] = {}
        self._text: dict[Path, str | None] = {}
        self._seen: set[tuple[str, str, str]] = set()
        self.structure_seen: set[Path] = set()
        self._meta: dict[Path, Any] = {}
        self._inputs: dict[Path, TemplateInputs] = {}

    def rel(self, path: Path) -> str:
        try:
            return path.relative_to(self.tree.root).as_posix()
        except ValueError:
            return str(path)

    def add(self, severity: Severity, code: str, path: Path | str, message: str, fix: str = "",
            *, pointer: str | None = None, line: int | None = None,
            column: int | None = None) -> None:
        file = path if isinstance(path, str) else self.rel(path)
        key = (code, file, f"{pointer}:{line}:{column}:{message}")
        if key in self._seen:
            return
        self._seen.add(key)
        self.findings.append(Finding(severity, code, file, message, fix, pointer, line, column,
                                     self.tree.kind))

    def text(self, path: Path) -> str | None:
        """File text, or None (missing files are reported by the structure rules)."""
        if path in self._text:
            return self._text[path]
        value: str | None = None
        if path.is_file():
            try:
                value = limits.read_bytes(path, max_bytes=self.max_file_size,
                                          what=self.rel(path)).decode("utf-8")
            except limits.TooLarge as exc:
                self.add("error", "file.too-large", path, exc.message.split(": ", 1)[-1],
                         "make the file smaller (or raise --max-file-size)")
            except InputError as exc:
                self.add("error", "file.unreadable", path, exc.message.split(": ", 1)[-1],
                         exc.hint or "give a regular file")
            except UnicodeDecodeError as exc:
                self.add("error", "file.unreadable", path,
                         f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
                         f"{exc.start})", "save the file as UTF-8")
            except OSError as exc:
                self.add("error", "file.unreadable", path, f"cannot read: {exc.strerror}",
                         "fix the file's permissions (chmod a+r)")
        elif path.is_symlink():
            self.add("error", "file.unreadable", path, "broken symlink",
                     "replace the link with the real file")
        self._text[path] = value
        return value

    def json(self, path: Path) -> Any:
        """Parsed JSON, or MISSING (invalid JSON is reported once, with line and column)."""
        if path in self._json:
            return self._json[path]
        value: Any = MISSING
        text = self.text(path)
        if text is not None:
            try:
                value = jsonload.loads(text, name=self.rel(path))
            except jsonload.JsonRefused as exc:
                syntax = re.match(r".*: invalid JSON at line (\d+) column (\d+): (.*)\Z", exc.message)
                if syntax:
                    self.add("error", "json.invalid", path, f"invalid JSON: {syntax.group(3)}",
                             "fix the JSON syntax at this line and column",
                             line=int(syntax.group(1)), column=int(syntax.group(2)))
                else:
                    self.add("error", "json.refused", path,
                             exc.message.split(": ", 1)[-1], exc.hint or "")
        self._json[path] = value
        return value

    def spec(self, name: str) -> dict[str, Any]:
        return dict(json.loads((validation_dir() / name).read_text(encoding="utf-8")))

    def validator(self, schema: Any) -> Any:
        """The validator class for ``schema``, its ``$ref`` resolution confined to the tree
        (tcli.safety.schemas: never a network, never a file outside the project)."""
        return schemas.confined_class(schema, self.tree.root, self.tree.root)

    def refs_refused(self, path: Path, schema: Any) -> bool:
        """Add a finding for each ``$ref``/``$id`` of ``schema`` that is remote or leaves the
        project; True when there was one (the schema is then not used at all)."""
        bad = False
        for where, ref, refused in schemas.refused_refs(schema, path.parent, self.tree.root):
            bad = True
            self.add("error", "schema.ref-refused", path, f"$ref {ref!r}: {refused}",
                     schemas.REF_FIX, pointer=where)
        return bad

    def meta_check(self, path: Path) -> Any:
        """Check a ``*.jsonschema`` against its meta-schema (once); return it or MISSING."""
        if path not in self._meta:
            self._meta[path] = self._meta_check(path)
        return self._meta[path]

    def _meta_check(self, path: Path) -> Any:
        schema = self.json(path)
        if schema is MISSING:
            return MISSING
        if not isinstance(schema, dict | bool):
            self.add("error", "schema.invalid", path, "a JSON Schema must be an object",
                     "start the file with { ... }", pointer="")
            return MISSING
        if self.refs_refused(path, schema):
            return MISSING
        cls = self.validator(schema)
        meta = cls(cls.META_SCHEMA)
        errors = sorted(meta.iter_errors(schema), key=lambda e: list(map(str, e.absolute_path)))
        for err in errors:
            self.add("error", "schema.invalid", path,
                     f"not a valid JSON Schema: {err.message}",
                     "fix it (checked against JSON Schema draft 7 unless $schema says otherwise)",
                     pointer=pointer(err.absolute_path))
        return MISSING if errors else schema

    def instance_check(self, path: Path, instance: Any, schema: Any, code: str,
                        fix: str, *, pointer_map: Any = None) -> list[Any]:
        cls = self.validator(schema)
        errors = sorted(cls(schema).iter_errors(instance),
                        key=lambda e: (list(map(str, e.absolute_path)), e.message))
        for err in errors:
            ptr = pointer(err.absolute_path)
            if pointer_map is not None:
                ptr = pointer_map(err)
            self.add("error", code, path, err.message, fix, pointer=ptr)
        return errors

    def python_syntax(self, path: Path) -> None:
        text = self.text(path)
        if text is None:
            return
        try:
            compile(text, str(path), "exec", dont_inherit=True)
        except SyntaxError as exc:
            self.add("error", "python.syntax", path, f"Python syntax error: {exc.msg}",
                     "fix the syntax (python -m py_compile FILE shows it)",
                     line=exc.lineno, column=exc.offset)

    def inputs(self, ref: TemplateRef) -> TemplateInputs:
        """config.jsonschema (meta-checked), presets, custom, train_config and form defaults."""
        if ref.path in self._inputs:
            return self._inputs[ref.path]
        cfg = ref.config_dir
        schema_path = cfg / CONFIG_SCHEMA
        schema = self.meta_check(schema_path) if schema_path.is_file() else MISSING
        train_path = cfg / TRAIN_CONFIG
        found = TemplateInputs(
            schema=schema,
            presets=self.json(cfg / PRESETS),
            custom=self.json(cfg / CUSTOM_JSON),
            train_cfg=self.json(train_path) if train_path.exists() else MISSING,
            defaults=form_defaults(schema) if isinstance(schema, dict) else None,
        )
        self._inputs[ref.path] = found
        return found
