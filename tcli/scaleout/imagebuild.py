"""``tc build``'s core: build a template's image from the platform's build directory and,
with ``push``, push it to the registry named in its tag.

Docker is reached only through ``tcli.engine`` (``build_image``, ``registry.push_image``).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tcli.errors import InputError
from tcli.project import Project, TemplateRef
from tcli.scaleout.imageref import ImageRef, parse


@dataclass
class Built:
    tag: str
    image_id: str
    seconds: float
    steps: int
    cached_steps: int
    context_files: int
    digest: str | None = None


def parse_tag(tag: str, push: bool) -> ImageRef:
    """The ``--tag`` as an ImageRef: no digest; with ``push`` a registry host is required."""
    ref = parse(tag, "--tag")
    if ref.digest:
        raise InputError(f"--tag {tag!r}: a digest cannot be a build tag", "use REGISTRY/NAME:TAG")
    if push and ref.registry is None:
        raise InputError(f"--tag {tag!r} names no registry, so --push has nowhere to go",
                         "use REGISTRY/NAME:TAG, e.g. 127.0.0.1:5000/tc-classification:1")
    return ref


def choose_base(client: Any, template: TemplateRef, explicit: str | None,
                on_status: Callable[[str], None] | None = None) -> Any:
    """The base image as tc dev-run chooses it (``tcli.baseimage.choose_base_image``):
    ``explicit``, else the Dockerfile's when present or reachable, else the local stand-in."""
    from tcli import baseimage
    from tcli.devrun.launch import dockerfile_base_image

    default = dockerfile_base_image(template.docker_dir / "Dockerfile")
    if explicit is None and default == "scratch":  # Docker's empty image: nothing to choose
        return baseimage.BaseChoice(None, False)
    return baseimage.choose_base_image(
        client, explicit=explicit, dockerfile_default=default,
        flavor=baseimage.flavor_for_docker_dir(template.docker_dir), template=template.key,
        on_status=on_status)


def build(client: Any, project: Project, template: TemplateRef, ref: ImageRef, *,
          base_image: str | None = None, network: str | None = None, no_cache: bool = False,
          on_event: Callable[[Any], None] | None = None) -> Built:
    """Assemble the platform's build directory for ``template`` and build it as ``ref``
    (``base_image``: the BASE_IMAGE build arg, None for the Dockerfile's own)."""
    from tcli import engine
    from tcli.buildctx import assemble
    from tcli.weights.core import staged_files

    build_root = project.tc_dir / "build"
    build_root.mkdir(parents=True, exist_ok=True)
    ctx_dir = Path(tempfile.mkdtemp(prefix="context-", dir=build_root))
    try:
        staged, _notes = staged_files(project, template)  # pinned weights, host cache
        ctx = assemble(project, template, ctx_dir, extra_files=staged)
        result = engine.build_image(
            client, ctx_dir, ref.full,
            buildargs={"BASE_IMAGE": base_image} if base_image else None,
            network_mode=network, nocache=no_cache,
            labels={"tc.template": template.key}, on_event=on_event)
    finally:
        shutil.rmtree(ctx_dir, ignore_errors=True)
    return Built(tag=ref.full, image_id=result.image_id, seconds=result.seconds,
                 steps=len(result.steps), cached_steps=len(result.cached_steps),
                 context_files=len(ctx.files))


def push(client: Any, ref: ImageRef, on_status: Callable[[str], None] | None = None) -> str:
    """Push ``ref`` (already built) to its registry; returns the manifest digest."""
    from tcli.engine.registry import push_image

    return push_image(client, ref.repository, ref.tag or "latest", on_status)
