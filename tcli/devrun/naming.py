"""Names and labels of dev-run's images and containers (Docker-safe, one per template)."""

from __future__ import annotations

import re

from tcli.project import Project, TemplateRef

LABEL_PROJECT = "org.tc.project"
LABEL_TEMPLATE = "org.tc.template"
LABEL_DEV_RUN = "org.tc.dev-run"


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
