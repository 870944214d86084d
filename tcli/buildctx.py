"""Assemble the platform's temporary build directory (platform contract §3).

The backend builds a train image in one flat folder holding: the flat runtime files of the
ZIP's top folder, the platform's own ``export.py``, every file of the template's ``docker/``
folder, ``presets.json``, ``train_config.json`` (the user's form input) and
``export_config.json`` (the export form). ``tc dev-run`` and ``tc package --verify`` use the
same function, so what is tested is what the platform builds. Never a dataset: only the files
named here are copied.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tcli.contract import EXPORT_CONFIG, EXPORT_SCRIPT, PRESETS, RUNTIME_FILES, TRAIN_CONFIG
from tcli.errors import InputError
from tcli.project import Project, TemplateRef


@dataclass
class BuildContext:
    """A filled build directory."""

    path: Path
    files: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum((self.path / name).stat().st_size for name in self.files)


def context_sources(
    project: Project, template: TemplateRef, *, platform_export_py: Path | None = None
) -> dict[str, Path]:
    """Map each build-directory file name to its source file in the project.

    ``train_config.json`` and ``export_config.json`` are the development stand-ins for the
    platform's form input. Raises InputError when a required source is missing.
    """
    sources: dict[str, Path] = {}
    for name, rel in RUNTIME_FILES.items():
        sources[name] = project.root / rel
    sources[EXPORT_SCRIPT] = platform_export_py or project.export_dir / EXPORT_SCRIPT
    docker_dir = template.docker_dir
    if not docker_dir.is_dir():
        raise InputError(f"{docker_dir}: missing docker/ folder of template {template.key}")
    for item in sorted(docker_dir.iterdir()):
        if item.is_file() and item.name != "__pycache__":
            sources[item.name] = item
    sources[PRESETS] = template.config_dir / PRESETS
    sources[TRAIN_CONFIG] = template.config_dir / TRAIN_CONFIG
    sources[EXPORT_CONFIG] = project.export_dir / EXPORT_CONFIG
    for name, src in sources.items():
        if not src.is_file():
            raise InputError(f"{src}: missing (needed as {name} in the build directory)")
    return sources


def assemble(
    project: Project,
    template: TemplateRef,
    dest: Path,
    *,
    train_config: dict[str, Any] | None = None,
    export_config: dict[str, Any] | None = None,
    platform_export_py: Path | None = None,
    extra_files: dict[str, Path] | None = None,
) -> BuildContext:
    """Fill ``dest`` (created, must be empty or absent) like the platform's backend does.

    Args:
        project: the generated project.
        template: which provider/category/architecture to build.
        dest: the build directory.
        train_config: form input to write as ``train_config.json`` (default: the project's file).
        export_config: export form input (default: the project's ``export/export_config.json``).
        platform_export_py: the platform's own export.py (default: the project's copy).
        extra_files: more files to add (e.g. a CA bundle for builds on machines behind a proxy).
    """
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise InputError(f"{dest}: build directory is not empty")
    sources = context_sources(project, template, platform_export_py=platform_export_py)
    ctx = BuildContext(dest)
    for name, src in sorted(sources.items()):
        shutil.copy2(src, dest / name)
        ctx.files.append(name)
    if train_config is not None:
        (dest / TRAIN_CONFIG).write_text(json.dumps(train_config, indent=2) + "\n")
    if export_config is not None:
        (dest / EXPORT_CONFIG).write_text(json.dumps(export_config, indent=2) + "\n")
    for name, src in sorted((extra_files or {}).items()):
        shutil.copy2(src, dest / name)
        ctx.files.append(name)
    return ctx
