"""Rules: the files themselves: Python syntax, .env, Dockerfile, requirements.txt, and what
``tc package`` would refuse (secrets, weights, data, oversize files, links out of the project)."""

from __future__ import annotations

import posixpath
from pathlib import Path, PurePosixPath

from tcli.contract import DATASET_ID_KEY, ENTRYPOINT_SCRIPT, FORBIDDEN_COPY
from tcli.packaging.plan import plan as package_plan
from tcli.parsers import dockerfile, envfile, requirements
from tcli.project import Project, TemplateRef
from tcli.validate.context import Context


def check_tree(ctx: Context) -> None:
    for name, path in sorted(ctx.tree.runtime.items()):
        if name.endswith(".py"):
            ctx.python_syntax(path)


def check(ctx: Context, ref: TemplateRef) -> None:
    """The code and build files of a template's docker/ folder."""
    dock = ref.docker_dir
    for path in sorted(dock.glob("*.py")) if dock.is_dir() else []:
        ctx.python_syntax(path)
    for name, rule in ((".env", _check_env), ("Dockerfile", _check_dockerfile),
                       ("requirements.txt", _check_requirements)):
        text = ctx.text(dock / name)
        if text is not None:
            rule(ctx, dock / name, text)
    if ctx.tree.kind == "project":
        _check_package_safety(ctx, ref)


def _check_env(ctx: Context, path: Path, text: str) -> None:
    env = envfile.parse_env(text)
    for line in env.bad_lines:
        ctx.add("error", "env.syntax", path, "not a KEY=value line",
                 "write KEY=value (comments start with #)", line=line)
    for entry in env.entries:
        if entry.key == DATASET_ID_KEY:
            ctx.add("error", "env.dataset-id", path,
                     "DATASET_ID must not be set in .env: the platform writes it there to "
                     "switch datasets, and a value here would win over docker run -e",
                     "delete the line; tc dev-run sets DATASET_ID for you", line=entry.line)
            continue
        kind = envfile.secret_kind(entry.key, entry.value)
        if kind:
            ctx.add("error", "env.secret", path,
                     f"{entry.key} looks like {kind}: .env is uploaded with the template",
                     "remove it; the platform provides S3 credentials at run time",
                     line=entry.line)


def _check_dockerfile(ctx: Context, path: Path, text: str) -> None:
    instructions = dockerfile.parse_dockerfile(text)
    entry = dockerfile.entrypoint(instructions)
    if entry is None:
        ctx.add("error", "dockerfile.entrypoint", path,
                 "no ENTRYPOINT: the container would not run docker-entrypoint.sh",
                 'add ENTRYPOINT ["/docker-entrypoint.sh"]')
    elif not any(PurePosixPath(w).name == ENTRYPOINT_SCRIPT
                 for w in dockerfile.entrypoint_words(entry)):
        ctx.add("error", "dockerfile.entrypoint", path,
                 "ENTRYPOINT does not run docker-entrypoint.sh (mount, setup.py, train.py)",
                 'use ENTRYPOINT ["/docker-entrypoint.sh"]', line=entry.line)
    for spec in dockerfile.copy_specs(instructions):
        if spec.from_stage is not None:
            continue
        for src in spec.sources:
            if _source_outside(ctx, path, spec.keyword, src, spec.line):
                continue
            norm = posixpath.normpath(src.lstrip("/")) if src.strip("/") else "."
            first = norm.split("/", 1)[0]
            if first in FORBIDDEN_COPY:
                ctx.add("error", "dockerfile.copies-dev-data", path,
                         f"{spec.keyword} {src}: {first}/ is development data (mock MinIO, "
                         "train output or the dataset) and must not go into the image",
                         "remove it; the platform mounts the dataset at run time",
                         line=spec.line)


def _source_outside(ctx: Context, path: Path, keyword: str, src: str, line: int | None) -> bool:
    """A COPY/ADD source that is a URL, absolute, or climbs out of the build context
    (the template's docker/ folder): report it and return True."""
    if "://" in src or src.startswith("git@"):
        ctx.add("error", "dockerfile.remote-source", path,
                 f"{keyword} {src}: fetches a remote URL at build time (unpinned code or data "
                 "from the network goes into the image)",
                 "download it into docker/ and COPY the file, or pin it in requirements.txt",
                 line=line)
        return True
    if src.startswith("/"):
        ctx.add("error", "dockerfile.source-outside", path,
                 f"{keyword} {src}: absolute source path; sources are read from the build "
                 "context (docker/), never from the host",
                 "use a path relative to the template's docker/ folder", line=line)
        return True
    if posixpath.normpath(src).split("/", 1)[0] == "..":
        ctx.add("error", "dockerfile.source-outside", path,
                 f"{keyword} {src}: reaches outside the build context (the template's docker/ "
                 "folder); the platform builds from docker/ alone",
                 "copy the file into docker/ and COPY it from there", line=line)
        return True
    return False


def _check_requirements(ctx: Context, path: Path, text: str) -> None:
    for line, req in requirements.unpinned_requirements(text):
        ctx.add("warning", "requirements.unpinned", path,
                 f"{req!r} is not pinned: a rebuild may install another version",
                 "pin it with ==, e.g. name==1.2.3", line=line)
    _check_base_torch(ctx, path, text)


def _check_base_torch(ctx: Context, path: Path, text: str) -> None:
    """torch & co. in requirements.txt over a CUDA PyTorch base image: pip would replace the
    image's build (often with a CPU-only or other-CUDA wheel): an error (docs/explain.md)."""
    docker_text = ctx.text(path.parent / "Dockerfile")
    base = (dockerfile.base_image_default(docker_text) or "") if docker_text is not None else ""
    if "pytorch" not in base.lower():
        return
    for line, name, req in requirements.base_torch_requirements(text):
        ctx.add("error", "requirements.replaces-base-torch", path,
                f"{req!r}: the base image {base} already has {name}, built for its CUDA; pip "
                "would replace it (often with a CPU-only or other-CUDA build)",
                f"drop {name} from requirements.txt (the image's own is used), or pin exactly "
                "the image's version (python -c 'import torch; print(torch.__version__)' in it)",
                line=line)


def _check_package_safety(ctx: Context, ref: TemplateRef) -> None:
    found = package_plan(Project(ctx.tree.root), ref, max_file_size=ctx.max_file_size)
    for refusal in found.refusals:
        if refusal.code == "env.secret":
            continue  # reported by _check_env, with its line
        ctx.add("error", refusal.code, refusal.path, refusal.message, refusal.fix)
