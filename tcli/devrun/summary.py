"""The result of one dev-run (what ``--json`` prints and the view summarises)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from tcli.custom_json import CustomJson
from tcli.project import Project, TemplateRef


@dataclass
class Summary:
    """The result of one run (``--json`` prints it)."""

    status: str
    exit_code: int | None
    project: str
    template: str
    image: str
    container: str
    dataset_id: int | None
    gpus: str
    score_name: str
    score: float | None = None
    score_raw: str | None = None
    model_filepath: str = ""
    model_file: str | None = None
    model_bytes: int | None = None
    context_files: int | None = None
    context_bytes: int | None = None
    base_image: str | None = None
    steps: int | None = None
    cached_steps: int | None = None
    build_steps: list[dict[str, Any]] = field(default_factory=list)
    rerun: bool = False
    nodes: int | None = None  # containers of a --nodes run (node 0's is ``container``)
    durations: dict[str, float | None] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def begin(cls, project: Project, template: TemplateRef, custom: CustomJson, *,
              image: str, container: str, dataset_id: int | None, gpus: str,
              **more: Any) -> Summary:
        """The summary of a run that is about to start (``status`` running, no exit code)."""
        return cls(
            status="running", exit_code=None, project=str(project.root), template=template.key,
            image=image, container=container, dataset_id=dataset_id, gpus=gpus,
            score_name=custom.score_name, model_filepath=custom.model_filepath, **more,
        )
