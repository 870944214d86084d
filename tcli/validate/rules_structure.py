"""Rules: the folder layout of the platform (validation/*.json) and entries that do not belong."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tcli.contract import (
    CONFIG_FILES,
    DEV_ONLY_DIRS,
    DEV_ONLY_FILES,
    EXPORT_SCRIPT,
    PUBLISH_DIR,
    RUNTIME_FILES,
    TEMPLATE_DIRS,
)
from tcli.project import TemplateRef
from tcli.safety.confine import is_inside
from tcli.validate.context import Context
from tcli.validate.findings import Severity


def check_tree(ctx: Context) -> None:
    tree = ctx.tree
    if tree.kind == "project":
        _walk_spec(ctx, {"contents": [ctx.spec("common.json")]}, tree.root,
                        "the platform: validation/common.json")
        _walk_spec(ctx, ctx.spec("tc-project.json"), tree.root, "tc: validation/tc-project.json")
        _unexpected_in_common(ctx)
        _links_out_of_project(ctx)
    else:
        if not tree.common_dir.is_dir():
            ctx.add("error", "zip.top-folder", PUBLISH_DIR + "/",
                     f"the ZIP has no top folder {PUBLISH_DIR}/",
                     "package with 'tc package' (one top folder, as the platform expects)")
            return
        common = dict(ctx.spec("common.json"), name=PUBLISH_DIR)
        _walk_spec(ctx, {"contents": [common]}, tree.root,
                        "the platform: validation/common.json")
        _walk_spec(ctx, {"contents": [ctx.spec("tc-publish.json")]}, tree.root,
                        "tc: validation/tc-publish.json")
        _unexpected_in_zip(ctx)
    if not tree.templates:
        where = "templates/" if tree.kind == "project" else PUBLISH_DIR + "/"
        ctx.add("error", "structure.no-template", where,
                 "no <provider>/<category>/<architecture> folder found",
                 "create one with 'tc new'")


def check(ctx: Context, ref: TemplateRef) -> None:
    """A template folder: the platform's template.json and tc's tc-template.json."""
    _walk_spec(ctx, ctx.spec("template.json"), ref.path, "the platform: validation/template.json")
    _walk_spec(ctx, ctx.spec("tc-template.json"), ref.path, "tc: validation/tc-template.json")
    _unexpected_in_template(ctx, ref)


def _walk_spec(ctx: Context, node: dict[str, Any], actual: Path, source: str,
               severity: Severity = "error") -> None:
    for entry in node.get("contents", []):
        path = actual / entry["name"]
        if path in ctx.structure_seen:
            if entry.get("type") == "directory" and path.is_dir():
                _walk_spec(ctx, entry, path, source, severity)
            continue
        ctx.structure_seen.add(path)
        folder = entry.get("type") == "directory"
        if folder and path.is_dir():
            _walk_spec(ctx, entry, path, source, severity)
            continue
        if not folder and (path.is_file() or path.is_symlink()):
            continue
        kind = "folder" if folder else "file"
        if path.exists():
            code, message, fix = _WRONG_KIND[kind]
            ctx.add(severity, code, path, f"{message} (required by {source})", fix)
        else:
            ctx.add(severity, "structure.missing", path, f"missing {kind} (required by {source})",
                    "restore it ('tc update' restores tc's scaffold files)")


#: (code, message, fix) when a folder or a file is expected and the other kind is there.
_WRONG_KIND = {
    "folder": ("structure.not-a-folder", "expected a folder, found a file",
               "replace it with a folder"),
    "file": ("structure.not-a-file", "expected a file, found a folder",
             "replace the folder with the file"),
}


def _links_out_of_project(ctx: Context) -> None:
    """A top-level folder (common/, templates/, ...) that is a symlink leaving the project:
    validate and package would read files from elsewhere on the machine."""
    root = ctx.tree.root.resolve()
    for item in sorted(ctx.tree.root.iterdir()):
        if not item.is_symlink():
            continue
        target = item.resolve()
        if not is_inside(target, root):
            ctx.add("error", "structure.symlink-escape", item,
                     f"{item.name} is a symlink that points outside the project ({target})",
                     "replace the link with the folder itself (copy its files into the project)")


def _unexpected_in_common(ctx: Context) -> None:
    common = ctx.tree.common_dir
    if not common.is_dir():
        return
    known = {Path(rel).name for rel in RUNTIME_FILES.values() if rel.startswith("common/")}
    for item in sorted(common.iterdir()):
        if item.name in known or item.name in DEV_ONLY_DIRS:
            continue
        ctx.add("warning", "structure.unexpected", item,
                 "not a runtime file: 'tc package' leaves it out of the ZIP",
                 "move code that train.py needs into the template's docker/ folder")


def _unexpected_in_zip(ctx: Context) -> None:
    top = ctx.tree.common_dir
    template_tops = {ref.provider for ref in ctx.tree.templates}
    for item in sorted(top.iterdir()):
        if item.is_dir() and item.name in template_tops:
            continue
        if item.name in RUNTIME_FILES:
            continue
        ctx.add("warning", "structure.unexpected", item,
                 "unexpected entry at the top of the ZIP",
                 "only the runtime files and <provider>/ folders belong there")
    for path in sorted(ctx.tree.root.rglob("*")):
        if path.name in DEV_ONLY_FILES or (path.is_dir() and path.name in DEV_ONLY_DIRS):
            ctx.add("error", "structure.dev-only", path,
                     "development-only entry inside the ZIP (the platform supplies its own "
                     "or never uses it)", "package with 'tc package', which leaves it out")


def _unexpected_in_template(ctx: Context, ref: TemplateRef) -> None:
    for item in sorted(ref.path.iterdir()):
        if item.name in TEMPLATE_DIRS or item.name in DEV_ONLY_DIRS:
            continue
        ctx.add("warning", "structure.unexpected", item,
                 "not packaged: only config/ and docker/ of a template are uploaded",
                 "move it into docker/ (code) or config/, or delete it")
    if ref.config_dir.is_dir():
        for item in sorted(ref.config_dir.iterdir()):
            if item.name in CONFIG_FILES or item.name in DEV_ONLY_DIRS:
                continue
            ctx.add("warning", "structure.unexpected", item,
                     "not used by the platform (it reads config.jsonschema, custom.json, "
                     "presets.json)", "move it into docker/ if train.py needs it")
    if ref.docker_dir.is_dir() and ctx.tree.kind == "project":
        for item in sorted(ref.docker_dir.iterdir()):
            if item.is_dir() and item.name not in DEV_ONLY_DIRS:
                ctx.add("warning", "structure.subfolder", item,
                         "subfolder of docker/: the platform's flat build directory takes "
                         "only the files of docker/", "move its files up into docker/")
            elif item.name == EXPORT_SCRIPT:
                ctx.add("error", "structure.dev-only", item,
                         "export.py in docker/ clashes with the platform's own export.py",
                         "rename it (tc's templates ship tc_export.py) and import that")
            elif item.name in DEV_ONLY_FILES:
                ctx.add("warning", "structure.dev-only", item,
                         "development-only file in docker/: 'tc package' leaves it out",
                         "keep train_config.json in config/ and export files in export/")
