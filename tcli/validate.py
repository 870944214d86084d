"""Core of ``tc validate``: find locally what the platform would reject, late or early.

Two kinds of trees are checked with the same rules:

* a generated **project** (``common/``, ``datasets/``, ``export/``, ``templates/P/C/A/``), and
* an extracted **ZIP** as ``tc package`` writes it (``train-container-publish/`` with the
  flat runtime files and ``P/C/A/{config,docker}``).

Every rule appends :class:`Finding` objects (severity, code, file, location, message, fix) to
a :class:`Report`. No Typer here; the command module renders the report.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import stat
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from tcli.contract import (
    CONFIG_FILES,
    DEFAULT_MAX_FILE_SIZE,
    DEV_ONLY_DIRS,
    DEV_ONLY_FILES,
    FORBIDDEN_COPY,
    MODEL_EXTENSIONS,
    PUBLISH_DIR,
    RUNTIME_FILES,
    SPLIT_KEYS,
)
from tcli.errors import InputError
from tcli.parsers import args as args_parser
from tcli.parsers import dockerfile, envfile, requirements
from tcli.paths import validation_dir
from tcli.project import Project, TemplateRef
from tcli.schema import form_defaults, pointer, validator_class
from tcli.units import human_bytes

Severity = Literal["error", "warning"]

#: Version of the ``--json`` output format (see docs/validate.md).
JSON_FORMAT_VERSION = 1
_MISSING = object()


@dataclass(frozen=True)
class Finding:
    """One problem found in a checked tree."""

    severity: Severity
    code: str
    file: str
    message: str
    fix: str = ""
    pointer: str | None = None
    line: int | None = None
    column: int | None = None
    target: str = "project"

    @property
    def location(self) -> str:
        """``line:col``, ``line N``, a JSON pointer, or empty."""
        if self.line is not None:
            return f"{self.line}:{self.column}" if self.column is not None else f"line {self.line}"
        return self.pointer or ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity, "code": self.code, "target": self.target,
            "file": self.file, "pointer": self.pointer, "line": self.line,
            "column": self.column, "message": self.message, "fix": self.fix,
        }

    def sort_key(self) -> tuple[Any, ...]:
        return (self.target != "project", self.file, self.line or 0, self.column or 0,
                self.pointer or "", self.code, self.message)


@dataclass
class Report:
    """Findings for one checked tree (a project or a ZIP)."""

    kind: Literal["project", "zip"]
    path: Path
    templates: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    def failed(self, strict: bool = False) -> bool:
        return bool(self.errors) or (strict and bool(self.warnings))


def to_json(reports: list[Report], strict: bool = False) -> dict[str, Any]:
    """The documented ``tc validate --json`` object (docs/validate.md)."""
    findings = [f for r in reports for f in r.findings]
    errors = sum(1 for f in findings if f.severity == "error")
    warnings = sum(1 for f in findings if f.severity == "warning")
    return {
        "version": JSON_FORMAT_VERSION,
        "ok": not (errors or (strict and warnings)),
        "strict": strict,
        "summary": {"errors": errors, "warnings": warnings},
        "targets": [
            {"kind": r.kind, "path": str(r.path), "templates": r.templates} for r in reports
        ],
        "findings": [f.to_dict() for f in findings],
    }


# --------------------------------------------------------------------------- trees


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


# --------------------------------------------------------------------------- the checker


class Checker:
    """Runs the rules over one tree, collecting findings."""

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
        self._structure_seen: set[Path] = set()

    # ---- helpers
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
                value = path.read_bytes().decode("utf-8")
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
        """Parsed JSON, or _MISSING (invalid JSON is reported once, with line and column)."""
        if path in self._json:
            return self._json[path]
        value: Any = _MISSING
        text = self.text(path)
        if text is not None:
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                self.add("error", "json.invalid", path, f"invalid JSON: {exc.msg}",
                         "fix the JSON syntax at this line and column",
                         line=exc.lineno, column=exc.colno)
        self._json[path] = value
        return value

    # ---- run
    def run(self) -> list[Finding]:
        self.check_structure()
        self.check_runtime_python()
        if self.tree.export_dir is not None:
            self.check_export()
        for ref in self.tree.templates:
            self.check_template(ref)
        return sorted(self.findings, key=Finding.sort_key)

    # ---- structure
    def _walk_spec(self, node: dict[str, Any], actual: Path, source: str,
                   severity: Severity = "error") -> None:
        for entry in node.get("contents", []):
            path = actual / entry["name"]
            if path in self._structure_seen:
                if entry.get("type") == "directory" and path.is_dir():
                    self._walk_spec(entry, path, source, severity)
                continue
            self._structure_seen.add(path)
            if entry.get("type") == "directory":
                if path.is_dir():
                    self._walk_spec(entry, path, source, severity)
                elif path.exists():
                    self.add(severity, "structure.not-a-folder", path,
                             f"expected a folder, found a file (required by {source})",
                             "replace it with a folder")
                else:
                    self.add(severity, "structure.missing", path,
                             f"missing folder (required by {source})",
                             "restore it ('tc update' restores tc's scaffold files)")
            elif path.is_file() or path.is_symlink():
                continue
            elif path.exists():
                self.add(severity, "structure.not-a-file", path,
                         f"expected a file, found a folder (required by {source})",
                         "replace the folder with the file")
            else:
                self.add(severity, "structure.missing", path,
                         f"missing file (required by {source})",
                         "restore it ('tc update' restores tc's scaffold files)")

    def _spec(self, name: str) -> dict[str, Any]:
        return dict(json.loads((validation_dir() / name).read_text(encoding="utf-8")))

    def check_structure(self) -> None:
        tree = self.tree
        if tree.kind == "project":
            self._walk_spec({"contents": [self._spec("common.json")]}, tree.root,
                            "the platform: validation/common.json")
            self._walk_spec(self._spec("tc-project.json"), tree.root, "tc: validation/tc-project.json")
            self._unexpected_in_common()
        else:
            if not tree.common_dir.is_dir():
                self.add("error", "zip.top-folder", PUBLISH_DIR + "/",
                         f"the ZIP has no top folder {PUBLISH_DIR}/",
                         "package with 'tc package' (one top folder, as the platform expects)")
                return
            common = dict(self._spec("common.json"), name=PUBLISH_DIR)
            self._walk_spec({"contents": [common]}, tree.root,
                            "the platform: validation/common.json")
            self._walk_spec({"contents": [self._spec("tc-publish.json")]}, tree.root,
                            "tc: validation/tc-publish.json")
            self._unexpected_in_zip()
        if not tree.templates:
            where = "templates/" if tree.kind == "project" else PUBLISH_DIR + "/"
            self.add("error", "structure.no-template", where,
                     "no <provider>/<category>/<architecture> folder found",
                     "create one with 'tc new'")
        for ref in tree.templates:
            self._walk_spec(self._spec("template.json"), ref.path,
                            "the platform: validation/template.json")
            self._walk_spec(self._spec("tc-template.json"), ref.path,
                            "tc: validation/tc-template.json")
            self._unexpected_in_template(ref)

    def _unexpected_in_common(self) -> None:
        common = self.tree.common_dir
        if not common.is_dir():
            return
        known = {Path(rel).name for rel in RUNTIME_FILES.values() if rel.startswith("common/")}
        for item in sorted(common.iterdir()):
            if item.name in known or item.name in DEV_ONLY_DIRS:
                continue
            self.add("warning", "structure.unexpected", item,
                     "not a runtime file: 'tc package' leaves it out of the ZIP",
                     "move code that train.py needs into the template's docker/ folder")

    def _unexpected_in_zip(self) -> None:
        top = self.tree.common_dir
        template_tops = {ref.provider for ref in self.tree.templates}
        for item in sorted(top.iterdir()):
            if item.is_dir() and item.name in template_tops:
                continue
            if item.name in RUNTIME_FILES:
                continue
            self.add("warning", "structure.unexpected", item,
                     "unexpected entry at the top of the ZIP",
                     "only the runtime files and <provider>/ folders belong there")
        for path in sorted(self.tree.root.rglob("*")):
            if path.name in DEV_ONLY_FILES or (path.is_dir() and path.name in DEV_ONLY_DIRS):
                self.add("error", "structure.dev-only", path,
                         "development-only entry inside the ZIP (the platform supplies its own "
                         "or never uses it)", "package with 'tc package', which leaves it out")

    def _unexpected_in_template(self, ref: TemplateRef) -> None:
        for item in sorted(ref.path.iterdir()):
            if item.name in ("config", "docker") or item.name in DEV_ONLY_DIRS:
                continue
            self.add("warning", "structure.unexpected", item,
                     "not packaged: only config/ and docker/ of a template are uploaded",
                     "move it into docker/ (code) or config/, or delete it")
        if ref.config_dir.is_dir():
            for item in sorted(ref.config_dir.iterdir()):
                if item.name in CONFIG_FILES or item.name in DEV_ONLY_DIRS:
                    continue
                self.add("warning", "structure.unexpected", item,
                         "not used by the platform (it reads config.jsonschema, custom.json, "
                         "presets.json)", "move it into docker/ if train.py needs it")
        if ref.docker_dir.is_dir() and self.tree.kind == "project":
            for item in sorted(ref.docker_dir.iterdir()):
                if item.is_dir() and item.name not in DEV_ONLY_DIRS:
                    self.add("warning", "structure.subfolder", item,
                             "subfolder of docker/: the platform's flat build directory takes "
                             "only the files of docker/", "move its files up into docker/")
                elif item.name == "export.py":
                    self.add("error", "structure.dev-only", item,
                             "export.py in docker/ clashes with the platform's own export.py",
                             "rename it (tc's templates ship tc_export.py) and import that")
                elif item.name in DEV_ONLY_FILES:
                    self.add("warning", "structure.dev-only", item,
                             "development-only file in docker/: 'tc package' leaves it out",
                             "keep train_config.json in config/ and export files in export/")

    # ---- python syntax of runtime and template code
    def _python(self, path: Path) -> None:
        text = self.text(path)
        if text is None:
            return
        try:
            compile(text, str(path), "exec", dont_inherit=True)
        except SyntaxError as exc:
            self.add("error", "python.syntax", path, f"Python syntax error: {exc.msg}",
                     "fix the syntax (python -m py_compile FILE shows it)",
                     line=exc.lineno, column=exc.offset)

    def check_runtime_python(self) -> None:
        for name, path in sorted(self.tree.runtime.items()):
            if name.endswith(".py"):
                self._python(path)

    # ---- export/
    def check_export(self) -> None:
        assert self.tree.export_dir is not None
        export_schema = self.tree.export_dir / "export.jsonschema"
        if export_schema.is_file():
            self._meta_check(export_schema)
        config = self.tree.export_dir / "export_config.json"
        instance = self.json(config)
        if instance is _MISSING:
            return
        platform_schema = json.loads((validation_dir() / "export.jsonschema").read_text("utf-8"))
        self._instance_check(config, instance, platform_schema, "export.schema-violation",
                             "make export_config.json an instance of the platform's "
                             "export.jsonschema (its 'ONNX Export Configuration' form)")

    # ---- schemas
    def _validator(self, schema: Any) -> Any:
        return validator_class(schema)

    def _meta_check(self, path: Path) -> Any:
        """Check a ``*.jsonschema`` against its meta-schema; return it or _MISSING."""
        schema = self.json(path)
        if schema is _MISSING:
            return _MISSING
        if not isinstance(schema, dict | bool):
            self.add("error", "schema.invalid", path, "a JSON Schema must be an object",
                     "start the file with { ... }", pointer="")
            return _MISSING
        cls = self._validator(schema)
        meta = cls(cls.META_SCHEMA)
        errors = sorted(meta.iter_errors(schema), key=lambda e: list(map(str, e.absolute_path)))
        for err in errors:
            self.add("error", "schema.invalid", path,
                     f"not a valid JSON Schema: {err.message}",
                     "fix it (checked against JSON Schema draft 7 unless $schema says otherwise)",
                     pointer=pointer(err.absolute_path))
        return _MISSING if errors else schema

    def _instance_check(self, path: Path, instance: Any, schema: Any, code: str,
                        fix: str, *, pointer_map: Any = None) -> list[Any]:
        cls = self._validator(schema)
        errors = sorted(cls(schema).iter_errors(instance),
                        key=lambda e: (list(map(str, e.absolute_path)), e.message))
        for err in errors:
            ptr = pointer(err.absolute_path)
            if pointer_map is not None:
                ptr = pointer_map(err)
            self.add("error", code, path, err.message, fix, pointer=ptr)
        return errors

    # ---- one template
    def check_template(self, ref: TemplateRef) -> None:
        cfg, dock = ref.config_dir, ref.docker_dir
        for path in sorted(ref.path.rglob("*.jsonschema")):
            if not any(part in DEV_ONLY_DIRS for part in path.relative_to(ref.path).parts):
                self._meta_check(path)
        schema_path = cfg / "config.jsonschema"
        schema = self._meta_check(schema_path) if schema_path.is_file() else _MISSING
        presets = self.json(cfg / "presets.json")
        custom = self.json(cfg / "custom.json")
        train_cfg = self.json(cfg / "train_config.json") if (cfg / "train_config.json").exists() \
            else _MISSING
        tc_presets = self._spec_schema("tc-presets.jsonschema")
        tc_custom = self._spec_schema("tc-custom.jsonschema")
        if presets is not _MISSING:
            self._instance_check(cfg / "presets.json", presets, tc_presets, "presets.invalid",
                                 "presets.json needs output-dir, images-dir and labels-dir "
                                 "(strings)")
        if custom is not _MISSING:
            self._instance_check(cfg / "custom.json", custom, tc_custom, "custom.invalid",
                                 "custom.json needs model_filepath, score_name and score_regexp "
                                 "(strings)")
        defaults: dict[str, Any] | None = None
        if isinstance(schema, dict):
            defaults = form_defaults(schema)
            self._check_defaults(schema_path, schema, defaults)
            if isinstance(train_cfg, dict) or train_cfg is not _MISSING:
                self._instance_check(cfg / "train_config.json", train_cfg, schema,
                                     "config.schema-violation",
                                     "make train_config.json an instance of config.jsonschema "
                                     "(it stands in for the platform's form input)")
            if isinstance(train_cfg, dict):
                props = schema.get("properties", {}) if isinstance(schema, dict) else {}
                for key in train_cfg:
                    if isinstance(props, dict) and key not in props:
                        self.add("warning", "config.not-in-schema", cfg / "train_config.json",
                                 f"key {key!r} is not a property of config.jsonschema: the "
                                 "platform's form never sends it",
                                 "add it to config.jsonschema or to presets.json",
                                 pointer=pointer([key]))
        self._check_custom_semantics(ref, custom, presets)
        for path in sorted(dock.glob("*.py")) if dock.is_dir() else []:
            self._python(path)
        self._check_args(ref, schema, presets, train_cfg)
        self._check_splits(ref, schema, train_cfg, defaults)
        self._check_env(dock / ".env")
        self._check_dockerfile(dock / "Dockerfile")
        self._check_requirements(dock / "requirements.txt")
        if self.tree.kind == "project":
            self._check_package_safety(ref)

    def _spec_schema(self, name: str) -> dict[str, Any]:
        return self._spec(name)

    def _check_defaults(self, path: Path, schema: dict[str, Any],
                        defaults: dict[str, Any]) -> None:
        def where(err: Any) -> str:
            if err.validator == "required":
                return "/required"
            if err.absolute_path:
                return pointer(["properties", err.absolute_path[0], "default",
                                *list(err.absolute_path)[1:]])
            return ""

        cls = self._validator(schema)
        for err in sorted(cls(schema).iter_errors(defaults), key=lambda e: e.message):
            if err.validator == "required":
                self.add("warning", "config.no-default", path,
                         f"required property without a default: {err.message}",
                         "give it a default so the platform's form starts valid",
                         pointer="/required")
                continue
            self.add("error", "config.bad-default", path, f"default is invalid: {err.message}",
                     "make the default satisfy its own property's rules", pointer=where(err))

    # ---- custom.json semantics: score_regexp and model_filepath
    def _check_custom_semantics(self, ref: TemplateRef, custom: Any, presets: Any) -> None:
        if not isinstance(custom, dict):
            return
        path = ref.config_dir / "custom.json"
        regexp = custom.get("score_regexp")
        if isinstance(regexp, str):
            self._check_regexp(ref, path, regexp)
        model = custom.get("model_filepath")
        output_dir = presets.get("output-dir") if isinstance(presets, dict) else None
        if isinstance(model, str) and model:
            norm = posixpath.normpath(model)
            if isinstance(output_dir, str) and output_dir:
                out = posixpath.normpath(output_dir)
                if not PurePosixPath(norm).is_relative_to(PurePosixPath(out)) or norm == out:
                    self.add("error", "model.outside-output-dir", path,
                             f"model_filepath {model!r} is not inside output-dir {output_dir!r} "
                             "of presets.json: the backend would find no model",
                             f"write the model under {output_dir}/ and point model_filepath "
                             "there", pointer="/model_filepath")
            suffix = PurePosixPath(norm).suffix
            if suffix not in MODEL_EXTENSIONS:
                self.add("error", "model.extension", path,
                         f"model_filepath has extension {suffix or '(none)'!r}; the platform "
                         f"accepts {' '.join(MODEL_EXTENSIONS)}",
                         "save the model as .onnx (or .pt) and point model_filepath there",
                         pointer="/model_filepath")

    def _check_regexp(self, ref: TemplateRef, path: Path, regexp: str) -> None:
        try:
            compiled = re.compile(regexp)
        except re.error as exc:
            self.add("error", "regexp.invalid", path, f"score_regexp does not compile: {exc}",
                     "fix the regular expression (Python re syntax)", pointer="/score_regexp")
            return
        if compiled.groups < 1:
            self.add("error", "regexp.no-group", path,
                     "score_regexp has no capture group: the backend reads the score from "
                     "group 1", "put the number in parentheses, e.g. Accuracy: ([0-9.]+)",
                     pointer="/score_regexp")
            return
        if self.log_text is not None:
            sample, source = self.log_text, self.log_name
            sample_file: Path | str = path
        else:
            line_file = ref.config_dir / "score_line.txt"
            text = self.text(line_file) if line_file.is_file() else None
            if text is None:
                if not line_file.exists() and not line_file.is_symlink():
                    self.add("warning", "regexp.no-sample", path,
                             "no config/score_line.txt: cannot check that score_regexp "
                             "matches what train.py prints",
                             "add the score line train.py prints to config/score_line.txt, or "
                             "pass --log FILE", pointer="/score_regexp")
                return
            sample, source = text, "config/score_line.txt"
            sample_file = path
        match = compiled.search(sample)
        if match is None:
            self.add("error", "regexp.no-match", sample_file,
                     f"score_regexp matches nothing in {source}: the platform would show no "
                     "score", "make score_regexp match the score line train.py prints",
                     pointer="/score_regexp")
            return
        captured = match.group(1)
        try:
            float(captured if captured is not None else "")
        except ValueError:
            self.add("error", "regexp.not-a-number", sample_file,
                     f"score_regexp group 1 captured {captured!r} in {source}, not a number",
                     "capture only the number, e.g. ([0-9]+[.][0-9]+)",
                     pointer="/score_regexp")

    # ---- args.py against the keys that reach train.py
    def _check_args(self, ref: TemplateRef, schema: Any, presets: Any, train_cfg: Any) -> None:
        args_path = ref.docker_dir / "args.py"
        text = self.text(args_path)
        if text is None:
            return
        try:
            options = args_parser.parse_args_py(text, str(args_path))
        except SyntaxError:
            return  # reported as python.syntax
        if not options:
            self.add("warning", "args.none-found", args_path,
                     "no parser.add_argument('--...') calls found: cannot check the options "
                     "train.py accepts", "declare one long option per config key in args.py")
            return
        by_name: dict[str, args_parser.ArgOption] = {}
        for opt in options:
            for name in opt.long_names:
                by_name.setdefault(name, opt)
            if opt.positional and opt.nargs not in ("?", "*"):
                self.add("error", "args.positional", args_path,
                         f"positional argument {opt.flags[0]!r} is never given: config_to_args "
                         "passes only --options", f"make it an option: '--{opt.flags[0]}'",
                         line=opt.line)
        props = schema.get("properties", {}) if isinstance(schema, dict) else {}
        props = props if isinstance(props, dict) else {}
        # key -> (source file, values seen, schema type)
        keys: dict[str, tuple[str, list[Any], Any]] = {}

        def note(key: str, source: str, value: Any, has_value: bool) -> None:
            if key in SPLIT_KEYS:
                return
            src, values, typ = keys.get(key, (source, [], None))
            if has_value:
                values.append(value)
            keys[key] = (src, values, typ)

        for key, spec in props.items():
            note(key, "config.jsonschema", spec.get("default") if isinstance(spec, dict)
                 else None, isinstance(spec, dict) and "default" in spec)
            if key in keys and isinstance(spec, dict):
                src, values, _ = keys[key]
                keys[key] = (src, values, spec.get("type"))
        if isinstance(train_cfg, dict):
            for key, value in train_cfg.items():
                note(key, "train_config.json", value, True)
        if isinstance(presets, dict):
            for key, value in presets.items():
                if value is None or value == "":
                    continue
                note(key, "presets.json", value, True)
                if key in props:
                    self.add("warning", "config.preset-overrides", ref.config_dir / "presets.json",
                             f"presets.json sets {key!r}, which overrides the user's form value",
                             "remove it from presets.json or from config.jsonschema",
                             pointer=pointer([key]))
        for key, (source, values, typ) in sorted(keys.items()):
            found = by_name.get(key)
            if found is None:
                self.add("error", "args.undeclared", args_path,
                         f"--{key} (key of {source}) is not declared: train.py would stop with "
                         "'unrecognized arguments'", f"add parser.add_argument('--{key}', ...)")
                continue
            opt = found
            is_bool = typ == "boolean" or any(isinstance(v, bool) for v in values)
            is_list = typ == "array" or any(isinstance(v, list) for v in values)
            is_other = typ in ("string", "number", "integer") or any(
                v is not None and not isinstance(v, bool | list) for v in values)
            if is_bool and opt.takes_value:
                self.add("error", "args.flag-mismatch", args_path,
                         f"--{key} is a boolean: config_to_args passes it as a bare flag, but "
                         "args.py expects a value", "use action='store_true'", line=opt.line)
            elif (is_other or is_list) and not opt.takes_value:
                self.add("error", "args.flag-mismatch", args_path,
                         f"--{key} takes no value in args.py, but {source} gives it one",
                         "drop the store_true action or make the key a boolean", line=opt.line)
            if is_list and opt.takes_value and not opt.takes_list:
                self.add("error", "args.nargs-missing", args_path,
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
                self.add("error", "args.required-not-provided", args_path,
                         f"--{opt.long_names[0]} is required by args.py, but neither presets.json "
                         "nor the required properties of config.jsonschema provide it",
                         "add it to presets.json, make it required in config.jsonschema, or "
                         "drop required=True", line=opt.line)

    # ---- train-split / test-split
    def _check_splits(self, ref: TemplateRef, schema: Any, train_cfg: Any,
                      defaults: dict[str, Any] | None) -> None:
        schema_path = ref.config_dir / "config.jsonschema"
        if not isinstance(schema, dict):
            return
        props = schema.get("properties", {})
        props = props if isinstance(props, dict) else {}
        for key in SPLIT_KEYS:
            spec = props.get(key)
            if spec is None:
                self.add("warning", "split.missing", schema_path,
                         f"no {key!r} property: setup.py splits the dataset with train-split "
                         "and test-split", f"add {key!r} (a number between 0 and 1)",
                         pointer="/properties")
            elif isinstance(spec, dict) and "maximum" not in spec \
                    and "exclusiveMaximum" not in spec:
                self.add("warning", "split.unbounded", schema_path,
                         f"{key!r} has no maximum: the form lets a user type 80 instead of 0.8",
                         "add \"minimum\": 0, \"maximum\": 1", pointer=pointer(["properties", key]))
        sources: list[tuple[Path, str, Any]] = []
        if isinstance(train_cfg, dict):
            sources.append((ref.config_dir / "train_config.json", "", train_cfg))
        if defaults is not None:
            sources.append((schema_path, "default", defaults))
        for path, kind, values in sources:
            tr, te = values.get("train-split"), values.get("test-split")

            def ptr(key: str, kind: str = kind) -> str:
                return pointer(["properties", key, "default"]) if kind else pointer([key])

            bad = False
            for key, val in (("train-split", tr), ("test-split", te)):
                if val is None:
                    continue
                if isinstance(val, bool) or not isinstance(val, int | float) \
                        or not 0 < val < 1:
                    bad = True
                    self.add("error", "split.range", path,
                             f"{key} is {val!r}; it must be a fraction between 0 and 1 "
                             "(exclusive)", "use e.g. 0.8 / 0.2", pointer=ptr(key))
            if bad or not isinstance(tr, int | float) or not isinstance(te, int | float):
                continue
            total = tr + te
            if total > 1 + 1e-9:
                self.add("error", "split.sum", path,
                         f"train-split + test-split = {total:g} > 1: the splits overlap",
                         "make them add up to 1", pointer=ptr("test-split"))
            elif total < 1 - 1e-9:
                self.add("warning", "split.unused", path,
                         f"train-split + test-split = {total:g} < 1: {100 * (1 - total):.0f}% "
                         "of the samples are used by neither split",
                         "make them add up to 1", pointer=ptr("test-split"))

    # ---- .env
    def _check_env(self, path: Path) -> None:
        text = self.text(path)
        if text is None:
            return
        env = envfile.parse_env(text)
        for line in env.bad_lines:
            self.add("error", "env.syntax", path, "not a KEY=value line",
                     "write KEY=value (comments start with #)", line=line)
        for entry in env.entries:
            if entry.key == "DATASET_ID":
                self.add("error", "env.dataset-id", path,
                         "DATASET_ID must not be set in .env: the platform writes it there to "
                         "switch datasets, and a value here would win over docker run -e",
                         "delete the line; tc dev-run sets DATASET_ID for you", line=entry.line)
                continue
            kind = envfile.secret_kind(entry.key, entry.value)
            if kind:
                self.add("error", "env.secret", path,
                         f"{entry.key} looks like {kind}: .env is uploaded with the template",
                         "remove it; the platform provides S3 credentials at run time",
                         line=entry.line)

    # ---- Dockerfile
    def _check_dockerfile(self, path: Path) -> None:
        text = self.text(path)
        if text is None:
            return
        instructions = dockerfile.parse_dockerfile(text)
        entry = dockerfile.entrypoint(instructions)
        if entry is None:
            self.add("error", "dockerfile.entrypoint", path,
                     "no ENTRYPOINT: the container would not run docker-entrypoint.sh",
                     'add ENTRYPOINT ["/docker-entrypoint.sh"]')
        elif not any(PurePosixPath(w).name == "docker-entrypoint.sh"
                     for w in dockerfile.entrypoint_words(entry)):
            self.add("error", "dockerfile.entrypoint", path,
                     "ENTRYPOINT does not run docker-entrypoint.sh (mount, setup.py, train.py)",
                     'use ENTRYPOINT ["/docker-entrypoint.sh"]', line=entry.line)
        for spec in dockerfile.copy_specs(instructions):
            if spec.from_stage is not None:
                continue
            for src in spec.sources:
                norm = posixpath.normpath(src.lstrip("/")) if src.strip("/") else "."
                first = norm.split("/", 1)[0]
                if first in FORBIDDEN_COPY:
                    self.add("error", "dockerfile.copies-dev-data", path,
                             f"{spec.keyword} {src}: {first}/ is development data (mock MinIO, "
                             "train output or the dataset) and must not go into the image",
                             "remove it; the platform mounts the dataset at run time",
                             line=spec.line)

    # ---- requirements.txt
    def _check_requirements(self, path: Path) -> None:
        text = self.text(path)
        if text is None:
            return
        for line, req in requirements.unpinned_requirements(text):
            self.add("warning", "requirements.unpinned", path,
                     f"{req!r} is not pinned: a rebuild may install another version",
                     "pin it with ==, e.g. name==1.2.3", line=line)

    # ---- what tc package would refuse
    def _check_package_safety(self, ref: TemplateRef) -> None:
        from tcli import package

        plan = package.plan(Project(self.tree.root), ref, max_file_size=self.max_file_size)
        for refusal in plan.refusals:
            if refusal.code == "env.secret":
                continue  # reported by _check_env, with its line
            self.add("error", refusal.code, refusal.path, refusal.message, refusal.fix)


# --------------------------------------------------------------------------- ZIP safety


def unsafe_member_reason(info: zipfile.ZipInfo) -> str | None:
    """Why extracting ``info`` would be unsafe (zip-slip and friends), or None."""
    name = info.filename
    if not name or "\x00" in name:
        return "empty or NUL in the name"
    if "\\" in name:
        return "backslash in the name"
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "absolute path"
    if any(part == ".." for part in name.split("/")):
        return "'..' escapes the extraction folder (zip-slip)"
    mode = info.external_attr >> 16
    if info.create_system == 3 and stat.S_ISLNK(mode):
        return "symbolic link"
    return None


def read_zip(zip_path: Path, dest: Path, *, max_file_size: int = DEFAULT_MAX_FILE_SIZE,
             ) -> tuple[list[Finding], Tree]:
    """Check the members of ``zip_path``, extract the safe ones into ``dest``.

    Raises InputError when the file is not a readable ZIP.
    """
    findings: list[Finding] = []

    def add(code: str, file: str, message: str, fix: str) -> None:
        findings.append(Finding("error", code, file, message, fix, target="zip"))

    try:
        zf = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"{zip_path}: not a readable ZIP file ({exc})",
                         "pass the file 'tc package' wrote") from None
    with zf:
        seen: set[str] = set()
        for info in zf.infolist():
            name = info.filename
            reason = unsafe_member_reason(info)
            if reason:
                add("zip.unsafe-name", name, f"unsafe member name: {reason}",
                    "rebuild the ZIP with 'tc package'")
                continue
            if name in seen:
                add("zip.duplicate", name, "member appears twice in the ZIP",
                    "rebuild the ZIP with 'tc package'")
                continue
            seen.add(name)
            if info.flag_bits & 0x1:
                add("zip.encrypted", name, "encrypted member", "upload an unencrypted ZIP")
                continue
            if not info.is_dir() and info.file_size > max_file_size:
                add("package.oversize", name,
                    f"{human_bytes(info.file_size, 'MB')} is over the "
                    f"{human_bytes(max_file_size, 'MB')} limit",
                    "keep large files (weights, data) out of the template")
                continue
            if name.split("/", 1)[0] != PUBLISH_DIR:
                add("zip.top-folder", name, f"member outside the top folder {PUBLISH_DIR}/",
                    "rebuild the ZIP with 'tc package'")
                continue
            target = dest.joinpath(*[p for p in name.split("/") if p])
            if not target.resolve().is_relative_to(dest.resolve()):
                add("zip.unsafe-name", name, "unsafe member name: escapes the extraction folder",
                    "rebuild the ZIP with 'tc package'")
                continue
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                data = zf.read(info)
            except (zipfile.BadZipFile, OSError, RuntimeError) as exc:
                add("file.unreadable", name, f"cannot read member: {exc}",
                    "rebuild the ZIP with 'tc package'")
                continue
            target.write_bytes(data)
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                os.chmod(target, mode | 0o600)
    return findings, zip_tree(dest)


# --------------------------------------------------------------------------- entry points


def read_log(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise InputError(f"--log {path}: cannot read ({exc.strerror})",
                         "pass a recorded log of train.py") from None


def validate_project(path: Path | str, *, templates: list[str] | None = None,
                     log: Path | None = None,
                     max_file_size: int = DEFAULT_MAX_FILE_SIZE) -> Report:
    """Check a generated project; InputError when ``path`` is not a project."""
    project = Project.load(path)
    tree = project_tree(project, templates)
    log_text = read_log(log) if log is not None else None
    checker = Checker(tree, log_text=log_text, log_name=str(log) if log else "",
                      max_file_size=max_file_size)
    findings = checker.run()
    return Report("project", project.root, [r.key for r in tree.templates], findings)


def validate_zip(zip_path: Path | str, *, log: Path | None = None,
                 max_file_size: int = DEFAULT_MAX_FILE_SIZE,
                 extract_to: Path | None = None) -> Report:
    """Check a packaged ZIP: member names, then every rule on the extracted tree.

    ``extract_to`` keeps the extracted tree there (``tc package --verify`` builds from it);
    by default a temporary folder is used and removed.
    """
    zip_path = Path(zip_path)
    if not zip_path.is_file():
        raise InputError(f"--zip {zip_path}: no such file", "pass the ZIP 'tc package' wrote")
    log_text = read_log(log) if log is not None else None
    with tempfile.TemporaryDirectory(prefix="tc-validate-") as tmp:
        dest = extract_to if extract_to is not None else Path(tmp)
        dest.mkdir(parents=True, exist_ok=True)
        member_findings, tree = read_zip(zip_path, dest, max_file_size=max_file_size)
        checker = Checker(tree, log_text=log_text, log_name=str(log) if log else "",
                          max_file_size=max_file_size)
        findings = member_findings + checker.run()
    findings.sort(key=Finding.sort_key)
    return Report("zip", zip_path.resolve(), [r.key for r in tree.templates], findings)
