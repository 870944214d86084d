"""``tc dev-run --dry-run``: what a fresh run would build and create, without Docker.

The same steps as :func:`tcli.devrun.launch.dev_run` up to the container's creation — the
options' checks, the project and custom.json, the GPU plan, the dataset (planned, not written:
:func:`tcli.devrun.minio.plan_dataset`), the run's :class:`~tcli.job.spec.JobSpec`
(:func:`tcli.devrun.job.dev_run_spec`) and its translation by :mod:`tcli.job.local` — and no
more: no daemon is contacted, nothing is written under the project, nothing is built.

What a dry-run cannot know without the daemon is said in its notes: whether the NVIDIA runtime
is there (``--gpus auto`` is shown as CPU), whether the Dockerfile's base image is present or
reachable, whether a container name is taken (the run frees or suffixes it), the rendezvous port
of ``--nodes`` (a port free now; the run picks its own).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tcli.baseimage import flavor_for_docker_dir
from tcli.devrun.job import dev_run_spec
from tcli.devrun.launch import dockerfile_base_image, open_template
from tcli.devrun.minio import describe, plan_dataset
from tcli.devrun.naming import image_tag
from tcli.devrun.options import DevRunOptions, GpuPlan, plan_gpus
from tcli.job import local
from tcli.parsers.envfile import sets_dataset_id

AUTO_GPUS_NOTE = ("--gpus auto is shown as CPU: --dry-run does not ask Docker whether it has the "
                  "NVIDIA runtime (with it, the run gets every GPU); pass --gpus all or ids to "
                  "see a GPU run")
GPUS_NOTE = ("the run fails (exit 3) when the Docker daemon has no NVIDIA runtime; --dry-run "
             "does not ask it")
NAMES_NOTE = ("container names as tc chooses them: the run replaces this project's finished "
              "container of that name, and adds -2, -3 ... when another container holds it")
PORT_NOTE = "PET_MASTER_PORT is a port free now; the run picks a free port when it starts"


@dataclass
class DevRunPlan:
    """What ``tc dev-run`` would do (``--dry-run``; ``--json`` prints it)."""

    project: str
    template: str
    image: str
    base_image: str | None
    build_args: dict[str, str]
    dataset: str
    job: dict[str, Any]
    containers: list[local.RunSpec]
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps({
            "dry_run": True, "project": self.project, "template": self.template,
            "image": self.image, "base_image": self.base_image, "build_args": self.build_args,
            "dataset": self.dataset, "job": self.job,
            "containers": [{"create": asdict(run), "command_line": local.create_argv(run)}
                           for run in self.containers],
            "notes": self.notes,
        }, indent=2)


def offline_gpus(gpus: str) -> tuple[GpuPlan, str | None]:
    """The GPU plan without asking the daemon, and the note that says what was assumed."""
    if gpus.strip().lower() == "auto":
        return plan_gpus("none", nvidia_runtime=False), AUTO_GPUS_NOTE
    plan = plan_gpus(gpus, nvidia_runtime=True)
    return plan, GPUS_NOTE if plan.uses_gpu else None


def plan_dev_run(path: Path, opts: DevRunOptions) -> DevRunPlan:
    """The dry-run of ``tc dev-run`` (see the module doc). Raises InputError like the run."""
    project, template, _custom = open_template(path, opts)
    dataset_id = 1 if opts.dataset_id is None else opts.dataset_id
    gpu, gpu_note = offline_gpus(opts.gpus)
    notes = [note for note in (gpu_note,) if note]
    layout = plan_dataset(project, template, opts, dataset_id)
    spec = dev_run_spec(project, template, opts, gpu, layout)  # the GPU split is checked here
    if opts.nodes is not None:
        runs = local.node_containers(spec, port=local.free_port())
        notes.append(PORT_NOTE)
    else:
        runs = [local.container(spec)]
    notes.append(NAMES_NOTE)
    env_file = template.docker_dir / ".env"
    if env_file.is_file() and sets_dataset_id(env_file.read_text(encoding="utf-8")):
        notes.append(f"{env_file} sets DATASET_ID: it wins over --dataset-id (the platform "
                     "forbids it); remove that line")
    default = dockerfile_base_image(template.docker_dir / "Dockerfile")
    if opts.base_image:
        base: str | None = opts.base_image
        build_args = {"BASE_IMAGE": opts.base_image}
    else:
        base, build_args = default, {}
        if default:
            notes.append(f"base image: the Dockerfile's {default} when it is present or its "
                         f"registry answers, else the local stand-in "
                         f"{flavor_for_docker_dir(template.docker_dir).tag} (built when absent)")
    return DevRunPlan(
        project=str(project.root), template=template.key, image=image_tag(project, template),
        base_image=base, build_args=build_args, dataset=describe(project, layout),
        job=spec.to_dict(), containers=runs, notes=notes,
    )
