"""Names and labels of dev-run's images and containers (Docker-safe, one per template)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from tcli.errors import DockerError
from tcli.job.local import LABEL_DEV_RUN, LABEL_PROJECT, LABEL_TEMPLATE
from tcli.project import Project, TemplateRef

if TYPE_CHECKING:
    from tcli.devrun.events import DevRunEvents

__all__ = ["LABEL_DEV_RUN", "LABEL_PROJECT", "LABEL_TEMPLATE", "container_name", "free_name",
           "image_tag", "labels", "slug"]


def slug(text: str) -> str:
    """A lowercase Docker-name-safe form of ``text``."""
    value = re.sub(r"[^a-z0-9_.-]+", "-", text.lower()).strip("-._")
    return value or "tc"


def image_tag(project: Project, template: TemplateRef) -> str:
    """The image tag of a template: ``tc-dev/<project>-<p>-<c>-<a>:latest``."""
    return f"tc-dev/{slug(project.root.name)}-{slug(template.key)}:latest"


def container_name(project: Project, template: TemplateRef) -> str:
    """The container name of a template: ``tc-<project>-<p>-<c>-<a>``."""
    return f"tc-{slug(project.root.name)}-{slug(template.key)}"


def labels(project: Project, template: TemplateRef) -> dict[str, str]:
    """The labels that find a template's containers again (``--rerun``)."""
    return {LABEL_PROJECT: str(project.root), LABEL_TEMPLATE: template.key}


def free_name(client: Any, events: DevRunEvents, name: str, project: Project) -> str:
    """``name`` freed of this project's previous (ended) container, or a free variant of it."""
    from tcli import engine

    existing = engine.find_container(client, name)
    if existing is None:
        return name
    if (existing.labels or {}).get(LABEL_PROJECT) == str(project.root):
        if engine.status(existing) in ("running", "restarting"):
            raise DockerError(
                f"container {name} of this project is still running (another tc dev-run?)",
                f"wait for it to finish, or stop it: docker rm -f {name}",
            )
        engine.remove(existing)
        events.line(f"replaced the previous container {name}", style="dim")
        return name
    for index in range(2, 100):
        candidate = f"{name}-{index}"
        if engine.find_container(client, candidate) is None:
            events.warn(f"container name {name} is taken by another container: using {candidate}")
            return candidate
    raise DockerError(f"container names {name}-2 … {name}-99 are all taken", "remove old containers")
