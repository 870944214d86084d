"""``tc package --verify``: reopen the ZIP like the backend: safe names, validation, build dir."""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from tcli import buildctx
from tcli.contract import (
    CONFIG_SCHEMA,
    DEFAULT_MAX_FILE_SIZE,
    EXPORT_CONFIG,
    EXPORT_SCRIPT,
    PUBLISH_DIR,
    RUNTIME_FILES,
    TRAIN_CONFIG,
)
from tcli.parsers import dockerfile as dockerfile_parser
from tcli.project import Project, TemplateRef
from tcli.schema import form_defaults
from tcli.validate import Finding, Report, validate_zip, zip_tree


@dataclass
class VerifyResult:
    build_files: list[str]
    copy_sources: int
    problems: list[tuple[int, str]]  # (Dockerfile line, message)


class Verified(NamedTuple):
    """The ZIP's validation report (with ``verify.copy-missing`` findings) and, when it held a
    template to build, what the build directory looked like."""

    report: Report
    build: VerifyResult | None


def copy_problems(build_dir: Path) -> tuple[int, list[tuple[int, str]]]:
    """Check every COPY/ADD source of ``build_dir/Dockerfile`` exists in ``build_dir``."""
    dockerfile = build_dir / "Dockerfile"
    instructions = dockerfile_parser.parse_dockerfile(dockerfile.read_text(encoding="utf-8"))
    problems: list[tuple[int, str]] = []
    count = 0
    for spec in dockerfile_parser.copy_specs(instructions):
        if spec.from_stage is not None:
            continue
        empty_globs: list[str] = []
        matched = False
        for src in spec.sources:
            if "://" in src or "$" in src:
                continue
            count += 1
            rel = src.lstrip("/")
            rel = rel[2:] if rel.startswith("./") else rel
            if rel in ("", "."):
                continue
            if any(ch in rel for ch in "*?["):
                if any(build_dir.glob(rel)):
                    matched = True
                else:
                    empty_globs.append(src)
            elif not (build_dir / rel).exists():
                problems.append((spec.line, f"{spec.keyword} {src}: no such file in the build "
                                            "directory"))
            else:
                matched = True
        # Docker fails a COPY only when none of its sources matches: a wildcard that matches
        # nothing beside one that does is an optional file (weights.loc[k], weights-*)
        if not matched:
            problems.extend((spec.line, f"{spec.keyword} {src}: matches no file in the build "
                                        "directory") for src in empty_globs)
    return count, problems


def assemble_from_zip(extracted: Path, ref: TemplateRef, source: Project, dest: Path
                      ) -> Path:
    """Assemble the platform's build directory from an extracted ZIP, as the backend does.

    ``train_config.json`` is the form defaults of the ZIP's ``config.jsonschema``;
    ``export_config.json`` and the platform's ``export.py`` come from the source project's
    ``export/`` (development stand-ins of what the platform brings).
    """
    pseudo = dest.parent / (dest.name + "-project")
    top = extracted / PUBLISH_DIR
    for name, rel in RUNTIME_FILES.items():
        target = pseudo / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(top / name, target)
    tdir = pseudo / "templates" / ref.provider / ref.category / ref.architecture
    shutil.copytree(ref.path, tdir)
    schema = json.loads((tdir / "config" / CONFIG_SCHEMA).read_text(encoding="utf-8"))
    defaults = form_defaults(schema)
    (tdir / "config" / TRAIN_CONFIG).write_text(json.dumps(defaults, indent=2) + "\n")
    export_dir = pseudo / "export"
    export_dir.mkdir(parents=True, exist_ok=True)
    export_cfg: dict[str, Any] = {}
    src_cfg = source.export_dir / EXPORT_CONFIG
    if src_cfg.is_file():
        export_cfg = json.loads(src_cfg.read_text(encoding="utf-8"))
    (export_dir / EXPORT_CONFIG).write_text(json.dumps(export_cfg, indent=2) + "\n")
    src_export = source.export_dir / EXPORT_SCRIPT
    platform_export = export_dir / EXPORT_SCRIPT
    if src_export.is_file():
        shutil.copy2(src_export, platform_export)
    else:
        platform_export.write_text("# stand-in for the platform's own export.py\n")
    pseudo_project = Project(pseudo)
    pseudo_ref = TemplateRef(ref.provider, ref.category, ref.architecture, tdir)
    buildctx.assemble(pseudo_project, pseudo_ref, dest, train_config=defaults,
                      export_config=export_cfg, platform_export_py=platform_export)
    return dest


def verify(zip_path: Path, source: Project, *,
           max_file_size: int = DEFAULT_MAX_FILE_SIZE) -> Verified:
    """Reopen ``zip_path`` as the platform would: safe names, validation, build directory.

    Returns the validation report of the ZIP (with ``verify.copy-missing`` findings added)
    and, when the ZIP held a template to build, what the build directory looked like.
    """
    with tempfile.TemporaryDirectory(prefix="tc-verify-") as tmp:
        extracted = Path(tmp) / "zip"
        report = validate_zip(zip_path, max_file_size=max_file_size, extract_to=extracted)
        if report.errors:
            return Verified(report, None)
        tree = zip_tree(extracted)
        ref = tree.templates[0]
        build = Path(tmp) / "build"
        assemble_from_zip(extracted, ref, source, build)
        count, problems = copy_problems(build)
        dockerfile = f"{PUBLISH_DIR}/{ref.key}/docker/Dockerfile"
        for line, message in problems:
            report.findings.append(Finding(
                "error", "verify.copy-missing", dockerfile, message,
                "ship the file in docker/ (the build directory is flat) or drop the COPY",
                line=line, target="zip"))
        files = sorted(p.name for p in build.iterdir())
        return Verified(report, VerifyResult(files, count, problems))
