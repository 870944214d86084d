"""``tc export``'s core: the manifest of a project's template, checked against the Kubeflow
API models, as YAML (to stdout or a file written atomically)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from tcli.errors import InputError
from tcli.project import Project, TemplateRef
from tcli.safety import atomic
from tcli.scaleout import kubeflow, manifests

KINDS = tuple(manifests.FORMATS)


def is_torch_template(template: TemplateRef) -> bool:
    """The torchvision templates carry tc_torch.py (data-parallel under torchrun)."""
    return (template.docker_dir / "tc_torch.py").is_file()


def build_manifest(project: Project, template: TemplateRef, kind: str,
                   opts: manifests.JobOptions) -> dict[str, Any]:
    """The checked manifest (a dict) of ``kind`` for ``template``."""
    if kind not in manifests.FORMATS:
        raise InputError(f"unknown manifest format {kind!r}", f"use one of: {', '.join(KINDS)}")
    if not opts.name:
        opts = replace(opts, name=manifests.default_name(project.root.name, template.architecture))
    opts = replace(opts, template=opts.template or template.key)
    opts.check()
    if not is_torch_template(template) and (opts.nodes > 1 or opts.procs > 1):
        raise InputError(
            f"{template.key} trains in one process (no tc_torch.py in its docker/ folder): "
            f"--nodes {opts.nodes} with {opts.procs} process(es) per node would train "
            f"{opts.nodes * opts.procs} copies",
            "use --nodes 1 (and no --procs-per-node) for this template")
    spec = manifests.spec_of(opts)  # the one job model, as dev-run's (tcli.job)
    doc = manifests.TRANSLATIONS[kind](spec, manifests.cluster_of(opts))
    kubeflow.VALIDATORS[kind](doc)
    return doc


class _NoAliases(yaml.SafeDumper):
    """Spell every node out (no ``&id001``/``*id001``): manifests are read by people."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def to_yaml(doc: dict[str, Any]) -> str:
    return yaml.dump(doc, Dumper=_NoAliases, sort_keys=False, default_flow_style=False,
                     width=100)


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"--output {path}: is a folder", "name a file, e.g. -o trainjob.yaml")
    if not path.parent.is_dir():
        raise InputError(f"--output {path}: folder {path.parent} does not exist")
    atomic.write_text(path, text)  # an unwritable place is one exit-2 line naming it
