"""``tc dev-run`` for a fresh run: dataset, build context, image, container, then :mod:`follow`.

1. assembles the platform's build directory (contract §3) with :func:`tcli.buildctx.assemble`
   in a temporary folder under ``<project>/.tc/build/`` — never a dataset, ``minio/`` or
   ``train/`` — and reports its size;
2. lays out the mock MinIO (:mod:`tcli.devrun.minio`);
3. builds the image with streamed progress (legacy builder, through :mod:`tcli.engine`);
4. builds the run's :class:`~tcli.job.spec.JobSpec` (:func:`tcli.devrun.job.dev_run_spec`:
   the platform's flags from the contract, GPUs, ``DATASET_ID``, ``/minio`` and ``/train``),
   translates it with :mod:`tcli.job.local` (one container, or K node containers with
   ``--nodes``), creates and starts it and follows it.

``--rerun`` goes to :mod:`tcli.devrun.rerun`, ``--dry-run`` to :mod:`tcli.devrun.plan`.
Progress goes to a :class:`DevRunEvents`.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tcli.baseimage import choose_base_image, flavor_for_docker_dir
from tcli.custom_json import CustomJson, read_custom
from tcli.devrun.events import DevRunEvents
from tcli.devrun.follow import Running, follow
from tcli.devrun.interrupts import interrupted
from tcli.devrun.job import dev_run_spec
from tcli.devrun.logs import LAST_LINES, short
from tcli.devrun.minio import check_target, describe, prepare_dataset, train_root
from tcli.devrun.naming import container_name, free_name, image_tag
from tcli.devrun.nodes import NodesRun, run_nodes
from tcli.devrun.options import DevRunOptions, check_options, plan_gpus
from tcli.devrun.rerun import rerun
from tcli.devrun.summary import Summary
from tcli.errors import InputError
from tcli.job import local
from tcli.job.gpus import split_gpus
from tcli.job.spec import JobSpec
from tcli.parsers.dockerfile import base_image_default
from tcli.parsers.envfile import sets_dataset_id
from tcli.project import Project, TemplateRef
from tcli.units import human_bytes

if TYPE_CHECKING:
    from tcli.engine import BuildResult


def dockerfile_base_image(dockerfile: Path) -> str | None:
    """The default of ``ARG BASE_IMAGE=…`` in a Dockerfile (or the first ``FROM`` image)."""
    try:
        text = dockerfile.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{dockerfile}: missing", "every template needs docker/Dockerfile") from None
    return base_image_default(text)


def open_template(path: Path, opts: DevRunOptions) -> tuple[Project, TemplateRef, CustomJson]:
    """The checked options' project, template and custom.json (InputError when unusable)."""
    check_options(opts)
    project = Project.load(path)
    template = project.select(opts.template)
    distributed = [f"{flag} {value}" for flag, value in (
        ("--nproc-per-node", opts.nproc_per_node), ("--nodes", opts.nodes)) if (value or 1) > 1]
    if distributed and not (template.docker_dir / "tc_torch.py").is_file():
        raise InputError(
            f"{' '.join(distributed)}: {template.key} trains in one process "
            "(no tc_torch.py in its docker/ folder)",
            "data-parallel training is for the torchvision templates; leave the option out")
    return project, template, read_custom(template)


def dev_run(path: Path, opts: DevRunOptions, events: DevRunEvents) -> Summary:
    """Build and run (or rerun) a template of the project at ``path``; see the module doc.

    Raises:
        InputError, DockerError, BuildFailed, RunFailed, Aborted (Ctrl-C; exit 130).
    """
    from tcli import engine

    project, template, custom = open_template(path, opts)
    if not opts.rerun:  # a dataset folder tc may not replace is refused before any Docker work
        check_target(project, opts, 1 if opts.dataset_id is None else opts.dataset_id)
    client = engine.connect()
    if opts.rerun:
        return rerun(client, project, template, custom, opts, events)

    dataset_id = 1 if opts.dataset_id is None else opts.dataset_id
    gpu = plan_gpus(opts.gpus, engine.daemon_info(client).nvidia)
    if opts.nodes:  # refused before anything is written: GPUs that cannot be split (dev_run_spec)
        split_gpus(gpu, opts.nodes, opts.nproc_per_node or 1)
    env_file = template.docker_dir / ".env"
    if env_file.is_file() and sets_dataset_id(env_file.read_text(encoding="utf-8")):
        events.warn(
            f"{env_file} sets DATASET_ID: it wins over --dataset-id (the platform forbids it); "
            "remove that line"
        )
    events.line(f"tc dev-run: {template.key} ({project.root})", style="info")

    layout = prepare_dataset(project, template, opts, dataset_id)
    events.line(describe(project, layout))
    train_root(project).mkdir(parents=True, exist_ok=True)
    choice = choose_base_image(
        client, explicit=opts.base_image,
        dockerfile_default=dockerfile_base_image(template.docker_dir / "Dockerfile"),
        flavor=flavor_for_docker_dir(template.docker_dir), template=template.key,
        on_status=events.line,
    )
    base = choice.image
    name = container_name(project, template)
    build, ctx_files, ctx_bytes = _build_image(
        client, project, template, base, choice.as_build_arg, opts, events)
    if gpu.warning:
        events.warn(gpu.warning)
    if opts.nodes is None:
        name = free_name(client, events, name, project)
    summary = Summary.begin(
        project, template, custom, image=image_tag(project, template), container=name,
        dataset_id=dataset_id, gpus=gpu.label, context_files=ctx_files,
        context_bytes=ctx_bytes, base_image=base, steps=len(build.steps),
        cached_steps=len(build.cached_steps),
        build_steps=[
            {"step": s.number, "instruction": short(s.instruction, 200), "cached": s.cached,
             "seconds": round(s.seconds, 2)}
            for s in build.steps
        ],
        durations={"build": round(build.seconds, 2)},
    )
    spec = dev_run_spec(project, template, opts, gpu, layout, name=name)
    # each launcher stops what it started on Ctrl-C and raises Aborted (exit 130); a Ctrl-C
    # before that is cli.py's "interrupted" (exit 130)
    if opts.nodes is not None:
        summary.nodes = opts.nodes
        return run_nodes(NodesRun(client, project, custom, summary, spec, keep=opts.keep), events)
    return _start(client, project, custom, summary, spec, opts.keep, events)


def _build_image(client: Any, project: Project, template: TemplateRef, base: str | None,
                 as_build_arg: bool, opts: DevRunOptions,
                 events: DevRunEvents) -> tuple[BuildResult, int, int]:
    """Assemble the build directory in a temporary folder and build it: (build, files, bytes)."""
    from tcli.buildctx import assemble
    from tcli.weights.core import staged_files as staged_weights

    tag = image_tag(project, template)
    build_root = project.tc_dir / "build"
    build_root.mkdir(parents=True, exist_ok=True)
    ctx_dir = Path(tempfile.mkdtemp(prefix="context-", dir=build_root))
    try:
        staged, notes = staged_weights(project, template)  # pinned weights, host cache
        for note in notes:
            events.line(note)
        ctx = assemble(project, template, ctx_dir, extra_files=staged)
        ctx_files, ctx_bytes = len(ctx.files), ctx.size
        events.line(
            f"build context: {ctx_files} files, {human_bytes(ctx_bytes)} "
            "(the platform's build directory; no dataset, minio/ or train/)"
        )
        network = f", network {opts.network}" if opts.network else ""
        events.line(f"building {tag} (base {base or 'from Dockerfile'}{network})")
        build = _build(client, events, ctx_dir, tag, base if as_build_arg else None, opts)
    finally:
        shutil.rmtree(ctx_dir, ignore_errors=True)
    events.line(
        f"built in {build.seconds:.1f} s ({len(build.cached_steps)} of {len(build.steps)} "
        "steps from cache)"
    )
    return build, ctx_files, ctx_bytes


def _build(client: Any, events: DevRunEvents, ctx_dir: Path, tag: str, base: str | None,
           opts: DevRunOptions) -> BuildResult:
    from tcli import engine

    try:
        events.build_started()
        try:
            return engine.build_image(
                client,
                ctx_dir,
                tag,
                buildargs={"BASE_IMAGE": base} if base else None,
                network_mode=opts.network,
                nocache=opts.no_cache,
                on_event=events.build_event,
            )
        finally:
            events.build_finished()
    except engine.BuildStepFailed as exc:
        if exc.step is not None and exc.step.output:
            events.line(f"output of step {exc.step.number}/{exc.step.total} (last lines):", "error")
            for line in exc.step.output[-LAST_LINES:]:
                events.line(f"  {line}")
        raise


def _start(client: Any, project: Project, custom: CustomJson, summary: Summary, spec: JobSpec,
           keep: bool, events: DevRunEvents) -> Summary:
    """Create and start the job's one container (:func:`tcli.job.local.container`), follow it;
    Ctrl-C stops and removes it (``keep``: stops it)."""
    from tcli import engine

    since_wall = time.time()
    begun = time.monotonic()
    container, _ulimits = engine.create_and_start(client, local.container(spec), warn=events.warn)
    try:
        procs = f", {spec.nproc_per_node} processes (torchrun)" if spec.nproc_per_node else ""
        events.line(f"running container {summary.container} (dataset {spec.dataset_id}, "
                 f"GPUs: {summary.gpus}{procs})")
        return follow(Running(container, project, custom, summary, begun, since_wall), events)
    except KeyboardInterrupt:
        raise interrupted([container], keep, events) from None


#: The image build of a fresh dev-run, for the commands that build once and run many
#: containers of it (tc sweep).
build_template_image = _build_image
