"""``tc dev-run`` core: build a template's train image and run it like the platform does.

One call of :func:`dev_run`:

1. assembles the platform's build directory (contract §3) with :func:`tcli.buildctx.assemble`
   in a temporary folder under ``<project>/.tc/build/`` — never a dataset, ``minio/`` or
   ``train/`` — and reports its size;
2. lays out the mock MinIO ``<project>/.tc/minio/datasets/<id>/`` from ``--dataset DIR`` (hard
   links, or symlinks into a read-only mount when DIR is on another file system; never
   copies of samples) or from the synthetic demo dataset;
3. builds the image with streamed progress (legacy builder, through :mod:`tcli.docker_ops`);
4. runs it with the platform's flags (GPUs, ``--ipc host``, ``--shm-size 8g``, ulimits,
   ``NVIDIA_VISIBLE_DEVICES``, ``DATASET_ID``, ``/minio`` and ``/train`` volumes), streams
   its logs, extracts the score with ``custom.json``'s ``score_regexp`` and checks that the
   model file was written.

``rerun`` restarts the finished container with ``docker start``, as the platform does, after
optionally rewriting ``DATASET_ID`` in its ``/workspace/.env``.

No Typer here; the output goes through :class:`Reporter` (Rich, via :mod:`tcli.console`).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from tcli import console
from tcli.errors import Aborted, DockerError, InputError, RunFailed
from tcli.project import Project, TemplateRef

LABEL_PROJECT = "org.tc.project"
LABEL_TEMPLATE = "org.tc.template"
LABEL_DEV_RUN = "org.tc.dev-run"
#: A log line that says the training stage began (the entrypoint runs setup.py, then train.py).
TRAIN_MARKER = re.compile(r"\btrain\.py\b")
#: Lines searched together for the score regexp (a regexp may span a line break).
SCORE_WINDOW = 20
LAST_LINES = 15
GPU_CHOICES = "auto, all, none or device ids like 0 or 0,1"


# --------------------------------------------------------------------------- options, results


@dataclass
class DevRunOptions:
    """What ``tc dev-run`` was asked to do."""

    template: str | None = None
    dataset: Path | None = None
    demo: bool = False
    demo_images: int | None = None
    dataset_id: int | None = None
    gpus: str = "auto"
    base_image: str | None = None
    no_cache: bool = False
    keep: bool = False
    rerun: bool = False
    network: str | None = None
    memory: str | None = None
    verbose: bool = False


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
    durations: dict[str, float | None] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


@dataclass(frozen=True)
class CustomJson:
    """The template's ``config/custom.json``."""

    model_filepath: str
    score_name: str
    score_regexp: re.Pattern[str]


# --------------------------------------------------------------------------- small pure helpers


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


def load_custom(template: TemplateRef) -> CustomJson:
    """Read ``custom.json``; InputError naming the file and field when unusable."""
    path = template.config_dir / "custom.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: missing", "every template needs config/custom.json") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: invalid JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object")
    values: dict[str, str] = {}
    for key in ("model_filepath", "score_name", "score_regexp"):
        value = data.get(key)
        if not isinstance(value, str) or not value:
            raise InputError(f"{path}: field {key!r} must be a non-empty string")
        values[key] = value
    try:
        pattern = re.compile(values["score_regexp"])
    except re.error as exc:
        raise InputError(f"{path}: field 'score_regexp' is not a valid regular expression ({exc})") from None
    if pattern.groups < 1:
        raise InputError(
            f"{path}: field 'score_regexp' has no capture group",
            "the platform reads the score from the first group, e.g. 'Accuracy (\\d+[.]\\d+)'",
        )
    return CustomJson(values["model_filepath"], values["score_name"], pattern)


def dockerfile_base_image(dockerfile: Path) -> str | None:
    """The default of ``ARG BASE_IMAGE=…`` in a Dockerfile (or the first ``FROM`` image)."""
    try:
        text = dockerfile.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{dockerfile}: missing", "every template needs docker/Dockerfile") from None
    match = re.search(r"^\s*ARG\s+BASE_IMAGE\s*=\s*[\"']?([^\s\"']+)", text, re.MULTILINE)
    if match:
        return match.group(1)
    match = re.search(r"^\s*FROM\s+(?:--platform=\S+\s+)?(\S+)", text, re.MULTILINE | re.IGNORECASE)
    if match and "$" not in match.group(1):
        return match.group(1)
    return None


def env_with_dataset_id(text: str, dataset_id: int) -> str:
    """``.env`` content with every ``DATASET_ID=`` line replaced by ``DATASET_ID=<id>``.

    This is what the platform does to point an existing container at another dataset.
    """
    kept = [
        line
        for line in text.splitlines()
        if not re.match(r"^\s*(export\s+)?DATASET_ID\s*=", line)
    ]
    while kept and not kept[-1].strip():
        kept.pop()
    kept.append(f"DATASET_ID={dataset_id}")
    return "\n".join(kept) + "\n"


def env_sets_dataset_id(text: str) -> bool:
    """Whether a ``.env`` text sets ``DATASET_ID`` (which then wins over ``-e DATASET_ID``)."""
    return any(re.match(r"^\s*(export\s+)?DATASET_ID\s*=", line) for line in text.splitlines())


def round_score(raw: str) -> float | None:
    """The score as the platform displays it (rounded to 3 decimals), None if not a number."""
    try:
        value = float(raw)
    except ValueError:
        return None
    return round(value, 3) if math.isfinite(value) else None


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def human_bytes(size: int) -> str:
    """``532 B``, ``41.2 kB``, ``1.3 MB`` (powers of 1000, like Docker)."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"  # pragma: no cover


@dataclass
class GpuPlan:
    """How the container gets GPUs."""

    label: str  # "all", "0,1" or "none"
    device_ids: str | None  # None: every GPU; "" : no GPU
    visible_devices: str
    warning: str | None = None

    @property
    def uses_gpu(self) -> bool:
        return self.label != "none"


def plan_gpus(gpus: str, nvidia_runtime: bool) -> GpuPlan:
    """Decide GPUs from ``--gpus`` and whether the daemon has the NVIDIA runtime."""
    value = gpus.strip().lower()
    if value == "none":
        return GpuPlan("none", "", "void")
    if value == "auto":
        if nvidia_runtime:
            return GpuPlan("all", None, "all")
        return GpuPlan(
            "none", "", "void",
            "no NVIDIA container runtime in this Docker daemon: running on CPU "
            "(--gpus none silences this; 'tc doctor' shows how to enable GPUs)",
        )
    if value == "all" or re.fullmatch(r"\d+(,\d+)*", value):
        if not nvidia_runtime:
            raise DockerError(
                f"--gpus {gpus}: this Docker daemon has no NVIDIA container runtime",
                "install nvidia-container-toolkit ('tc doctor' explains), or use --gpus auto "
                "(falls back to CPU) or --gpus none",
            )
        if value == "all":
            return GpuPlan("all", None, "all")
        return GpuPlan(value, value, value)
    raise InputError(f"--gpus {gpus!r} is not valid", f"use {GPU_CHOICES}")


class LogWatcher:
    """Follows the container's log lines: the score and when training began."""

    def __init__(self, score_regexp: re.Pattern[str]) -> None:
        self.score_regexp = score_regexp
        self.lines: list[str] = []
        self.score_raw: str | None = None
        self.train_started: float | None = None

    def feed(self, line: str, now: float) -> str | None:
        """Record one line; returns the score text the first time the regexp matches."""
        self.lines.append(line)
        if self.train_started is None and TRAIN_MARKER.search(line):
            self.train_started = now
        if self.score_raw is None:
            window = "\n".join(self.lines[-SCORE_WINDOW:]) + "\n"
            match = self.score_regexp.search(window)
            if match and match.group(1) is not None:
                self.score_raw = match.group(1)
                return self.score_raw
        return None

    def final_score(self) -> str | None:
        """The score the platform would read: the regexp's first match on the whole log."""
        match = self.score_regexp.search("\n".join(self.lines) + "\n")
        if match and match.group(1) is not None:
            return match.group(1)
        return self.score_raw

    def last_lines(self, count: int = LAST_LINES) -> list[str]:
        return self.lines[-count:]


# --------------------------------------------------------------------------- the mock MinIO


@dataclass
class DatasetLayout:
    """``<project>/.tc/minio/datasets/<id>/`` as prepared for a run."""

    dataset_id: int
    path: Path
    samples: int
    mode: str  # "hardlink", "symlink", "demo", "existing"
    volumes: dict[str, dict[str, str]] = field(default_factory=dict)


def minio_root(project: Project) -> Path:
    return project.tc_dir / "minio"


def train_root(project: Project) -> Path:
    return project.tc_dir / "train"


def _annotations_of(source: Path) -> Path:
    for candidate in (source / "annotations" / "annotations.xml", source / "annotations.xml"):
        if candidate.is_file():
            return candidate
    raise InputError(
        f"--dataset {source}: no annotations/annotations.xml (CVAT for images 1.1) in it",
        "export the task or project from CVAT as 'CVAT for images 1.1' and put the "
        "annotations.xml into DIR/annotations/",
    )


def _samples_of(source: Path, annotations: Path) -> list[Path]:
    return sorted(
        p for p in source.iterdir()
        if p.is_file() and not p.name.startswith(".") and p != annotations
    )


def link_dataset(
    project: Project, source: Path, dataset_id: int, *, mode: str = "auto"
) -> DatasetLayout:
    """Lay out dataset ``dataset_id`` of the mock MinIO from ``source`` without copying samples.

    ``mode`` ``auto`` uses hard links when ``source`` is on the same file system as the project,
    otherwise ``symlink``: links to ``/tc-sources/<id>/…``, where ``source`` is mounted read-only.
    """
    source = source.expanduser().resolve()
    if not source.is_dir():
        raise InputError(f"--dataset {source}: no such folder")
    target = minio_root(project) / "datasets" / str(dataset_id)
    if source == target.resolve() or target.resolve() in source.parents:
        annotations = _annotations_of(source)
        return DatasetLayout(dataset_id, target, len(_samples_of(source, annotations)), "existing")
    annotations = _annotations_of(source)
    samples = _samples_of(source, annotations)
    if not samples:
        raise InputError(f"--dataset {source}: no sample files next to the annotations")
    if mode == "auto":
        target.parent.mkdir(parents=True, exist_ok=True)
        mode = "hardlink" if os.stat(source).st_dev == os.stat(target.parent).st_dev else "symlink"
    _clear(target)
    (target / "annotations").mkdir(parents=True)
    shutil.copyfile(annotations, target / "annotations" / "annotations.xml")
    volumes: dict[str, dict[str, str]] = {}
    if mode == "hardlink":
        for sample in samples:
            os.link(sample, target / sample.name)
    elif mode == "symlink":
        mount = f"/tc-sources/{dataset_id}"
        volumes[str(source)] = {"bind": mount, "mode": "ro"}
        for sample in samples:
            os.symlink(f"{mount}/{sample.name}", target / sample.name)
    else:
        raise ValueError(f"unknown link mode {mode!r}")
    return DatasetLayout(dataset_id, target, len(samples), mode, volumes)


def demo_dataset(
    project: Project, task: str, dataset_id: int, images: int | None = None
) -> DatasetLayout:
    """Write the synthetic demo dataset as dataset ``dataset_id`` of the mock MinIO."""
    from tcli.demo_data import write_demo_dataset

    target = minio_root(project) / "datasets" / str(dataset_id)
    _clear(target)
    kwargs: dict[str, Any] = {"seed": dataset_id, "dataset_id": dataset_id}
    if images is not None:
        kwargs["images"] = images
    path = write_demo_dataset(minio_root(project), task, **kwargs)
    samples = sum(1 for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    return DatasetLayout(dataset_id, path, samples, "demo")


def existing_dataset(project: Project, dataset_id: int) -> DatasetLayout:
    """Dataset ``dataset_id`` already present in the mock MinIO (InputError when absent)."""
    target = minio_root(project) / "datasets" / str(dataset_id)
    annotations = target / "annotations" / "annotations.xml"
    if not annotations.is_file():
        raise InputError(
            f"no dataset {dataset_id} in {minio_root(project)}/datasets",
            "pass --dataset DIR (samples + annotations/annotations.xml) or --demo",
        )
    return DatasetLayout(dataset_id, target, len(_samples_of(target, annotations)), "existing")


def _clear(target: Path) -> None:
    """Remove a dataset folder of the mock MinIO (links only: sources are untouched)."""
    if target.is_symlink() or target.is_file():
        target.unlink()
    elif target.exists():
        shutil.rmtree(target)


def template_task(project: Project, template: TemplateRef) -> str:
    """The demo-data task of a template (from ``.copier-answers.yml``, else its category)."""
    from tcli.demo_data import resolve_task

    answers = project.root / ".copier-answers.yml"
    if answers.is_file():
        import yaml

        data = yaml.safe_load(answers.read_text(encoding="utf-8")) or {}
        if isinstance(data, dict) and data.get("template"):
            same = all(
                data.get(k) in (None, v)
                for k, v in (
                    ("provider", template.provider),
                    ("category", template.category),
                    ("architecture", template.architecture),
                )
            )
            if same:
                return resolve_task(str(data["template"]))
    try:
        return resolve_task(template.category)
    except InputError:
        raise InputError(
            f"cannot tell which demo data fits template {template.key}",
            "pass --dataset DIR with your own CVAT dataset instead of --demo",
        ) from None


# --------------------------------------------------------------------------- output


class Reporter:
    """Progress output: stdout normally, stderr when stdout carries ``--json``."""

    def __init__(self, json_mode: bool = False, verbose: bool = False) -> None:
        self.json_mode = json_mode
        self.verbose = verbose

    @property
    def con(self) -> Console:
        return console.err() if self.json_mode else console.out()

    def line(self, text: str, style: str | None = None) -> None:
        self.con.print(text, style=style, markup=False)

    def log(self, text: str) -> None:
        self.con.print(text.rsplit("\r", 1)[-1], markup=False, style=None)

    def warn(self, text: str) -> None:
        console.warn(text)


# --------------------------------------------------------------------------- the run


@contextmanager
def _no_interrupts() -> Iterator[None]:
    """Ignore Ctrl-C while cleaning up after one."""
    previous = signal.getsignal(signal.SIGINT)
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _check_options(opts: DevRunOptions) -> None:
    if opts.demo and opts.dataset is not None:
        raise InputError("--demo and --dataset exclude each other", "pass one of them")
    if opts.dataset_id is not None and opts.dataset_id < 0:
        raise InputError(f"--dataset-id {opts.dataset_id}: must be 0 or more")
    if opts.rerun:
        bad = [
            name for name, used in (
                ("--no-cache", opts.no_cache),
                ("--memory", opts.memory is not None),
            ) if used
        ]
        if bad:
            raise InputError(
                f"{', '.join(bad)} cannot be used with --rerun",
                "a rerun restarts the existing container with its image and flags",
            )


def _prepare_dataset(
    project: Project, template: TemplateRef, opts: DevRunOptions, dataset_id: int
) -> DatasetLayout:
    if opts.dataset is not None:
        return link_dataset(project, opts.dataset, dataset_id)
    if opts.demo:
        return demo_dataset(project, template_task(project, template), dataset_id, opts.demo_images)
    return existing_dataset(project, dataset_id)


def _describe_dataset(rep: Reporter, project: Project, layout: DatasetLayout) -> None:
    how = {
        "hardlink": "hard links",
        "symlink": "symlinks into a read-only mount",
        "demo": "synthetic demo data",
        "existing": "already in place",
    }[layout.mode]
    rel = os.path.relpath(layout.path, project.root)
    rep.line(f"dataset {layout.dataset_id}: {layout.samples} samples ({how}) in {rel}")


def _model_check(
    project: Project, custom: CustomJson, container: Any, since_wall: float
) -> tuple[str | None, int | None, str | None]:
    """(host path or None, size, problem) of the model file after a run."""
    from tcli import docker_ops

    path = custom.model_filepath
    if path == "/train" or path.startswith("/train/"):
        host = train_root(project) / path[len("/train/"):]
        if not host.is_file():
            return str(host), None, f"model file {path} was not written (no {host})"
        stat = host.stat()
        if stat.st_mtime < since_wall - 2:
            return str(host), stat.st_size, f"model file {path} was not rewritten by this run"
        return str(host), stat.st_size, None
    size = docker_ops.file_size(container, path)
    if size is None:
        return None, None, f"model file {path} was not written"
    return None, size, None


def dev_run(path: Path, opts: DevRunOptions, rep: Reporter) -> Summary:
    """Build and run (or rerun) a template of the project at ``path``; see the module doc.

    Raises:
        InputError, DockerError, BuildFailed, RunFailed, Aborted (Ctrl-C; exit 130).
    """
    from tcli import docker_ops

    _check_options(opts)
    project = Project.load(path)
    template = project.select(opts.template)
    custom = load_custom(template)
    gpus_value = opts.gpus
    client = docker_ops.connect()
    if opts.rerun:
        return _rerun(client, project, template, custom, opts, rep)

    dataset_id = 1 if opts.dataset_id is None else opts.dataset_id
    info = docker_ops.daemon_info(client)
    gpu = plan_gpus(gpus_value, info.nvidia)
    env_file = template.docker_dir / ".env"
    if env_file.is_file() and env_sets_dataset_id(env_file.read_text(encoding="utf-8")):
        rep.warn(
            f"{env_file} sets DATASET_ID: it wins over --dataset-id (the platform forbids it); "
            "remove that line"
        )
    rep.line(f"tc dev-run: {template.key} ({project.root})", style="info")

    layout = _prepare_dataset(project, template, opts, dataset_id)
    _describe_dataset(rep, project, layout)
    train_dir = train_root(project)
    train_dir.mkdir(parents=True, exist_ok=True)

    base_choice = _choose_base(client, template, opts, rep)
    base = base_choice.image
    tag = image_tag(project, template)
    labels = {LABEL_PROJECT: str(project.root), LABEL_TEMPLATE: template.key, LABEL_DEV_RUN: "1"}
    build_root = project.tc_dir / "build"
    build_root.mkdir(parents=True, exist_ok=True)
    container: Any = None
    name = container_name(project, template)
    try:
        ctx_dir = Path(tempfile.mkdtemp(prefix="context-", dir=build_root))
        try:
            from tcli.buildctx import assemble

            ctx = assemble(project, template, ctx_dir)
            ctx_files, ctx_bytes = len(ctx.files), ctx.size
            rep.line(
                f"build context: {ctx_files} files, {human_bytes(ctx_bytes)} "
                "(the platform's build directory; no dataset, minio/ or train/)"
            )
            network = f", network {opts.network}" if opts.network else ""
            rep.line(f"building {tag} (base {base or 'from Dockerfile'}{network})")
            build = _build(client, rep, ctx_dir, tag, base if base_choice.as_build_arg else None, opts)
        finally:
            shutil.rmtree(ctx_dir, ignore_errors=True)
        cached = len(build.cached_steps)
        rep.line(
            f"built in {build.seconds:.1f} s ({cached} of {len(build.steps)} steps from cache)"
        )
        if gpu.warning:
            rep.warn(gpu.warning)
        name = _free_name(client, rep, name, project)
        environment = {"DATASET_ID": str(dataset_id), "NVIDIA_VISIBLE_DEVICES": gpu.visible_devices}
        volumes = {
            str(minio_root(project)): {"bind": "/minio", "mode": "rw"},
            str(train_dir): {"bind": "/train", "mode": "rw"},
            **layout.volumes,
        }
        spec = docker_ops.RunSpec(
            image=tag,
            name=name,
            environment=environment,
            volumes=volumes,
            device_requests=(
                docker_ops.gpu_requests(gpu.device_ids or "all") if gpu.uses_gpu else []
            ),
            network_mode=opts.network,
            mem_limit=opts.memory,
            labels=labels,
        )
        summary = Summary(
            status="running",
            exit_code=None,
            project=str(project.root),
            template=template.key,
            image=tag,
            container=name,
            dataset_id=dataset_id,
            gpus=gpu.label,
            score_name=custom.score_name,
            model_filepath=custom.model_filepath,
            context_files=ctx_files,
            context_bytes=ctx_bytes,
            base_image=base,
            steps=len(build.steps),
            cached_steps=cached,
            build_steps=[
                {"step": s.number, "instruction": _short(s.instruction, 200), "cached": s.cached,
                 "seconds": round(s.seconds, 2)}
                for s in build.steps
            ],
            durations={"build": round(build.seconds, 2)},
        )
        since_wall = time.time()
        started = time.monotonic()
        container, _ulimits = docker_ops.create_and_start(client, spec, warn=rep.warn)
        rep.line(f"running container {name} (dataset {dataset_id}, GPUs: {gpu.label})")
        return _follow(container, project, custom, summary, rep, started, since_wall)
    except KeyboardInterrupt:
        with _no_interrupts():
            _cleanup(container, opts.keep, rep)
        kept = f"; container {name} kept (--keep)" if container is not None and opts.keep else ""
        raise Aborted(
            f"interrupted{kept}",
            f"inspect it with 'docker logs {name}'" if kept else None,
        ) from None


def _choose_base(client: Any, template: TemplateRef, opts: DevRunOptions, rep: Reporter) -> Any:
    """The base image: --base-image, else the Dockerfile's when here or reachable, else a stand-in."""
    from tcli import baseimage

    return baseimage.choose_base_image(
        client,
        explicit=opts.base_image,
        dockerfile_default=dockerfile_base_image(template.docker_dir / "Dockerfile"),
        flavor=baseimage.flavor_for_docker_dir(template.docker_dir),
        template=template.key,
        on_status=rep.line,
    )


def _build(
    client: Any,
    rep: Reporter,
    ctx_dir: Path,
    tag: str,
    base: str | None,
    opts: DevRunOptions,
) -> Any:
    from tcli import docker_ops

    con = rep.con
    live = con.is_terminal and not opts.verbose
    status = con.status("building …") if live else None

    def on_event(event: docker_ops.BuildEvent) -> None:
        kind, step, text = event
        if kind == "step":
            con.print(f"  {_short(text, 110)}", markup=False)
            if status is not None:
                status.update(f"step {step.number}/{step.total}" if step else "building …")
        elif kind == "cached" and opts.verbose:
            con.print("    (cached)", style="dim", markup=False)
        elif kind == "output":
            last = text.rsplit(chr(13), 1)[-1]
            if opts.verbose:
                con.print(f"    {last}", style="dim", markup=False)
            elif status is not None and step is not None:
                status.update(f"step {step.number}/{step.total}: {_short(last, 90)}")

    try:
        if status is not None:
            status.start()
        try:
            return docker_ops.build_image(
                client,
                ctx_dir,
                tag,
                buildargs={"BASE_IMAGE": base} if base else None,
                network_mode=opts.network,
                nocache=opts.no_cache,
                on_event=on_event,
            )
        finally:
            if status is not None:
                status.stop()
    except docker_ops.BuildStepFailed as exc:
        if exc.step is not None and exc.step.output:
            rep.line(f"output of step {exc.step.number}/{exc.step.total} (last lines):", "error")
            for line in exc.step.output[-LAST_LINES:]:
                rep.line(f"  {line}")
        raise


def _free_name(client: Any, rep: Reporter, name: str, project: Project) -> str:
    """``name`` freed of the previous run's container, or a free variant of it."""
    from tcli import docker_ops

    existing = docker_ops.find_container(client, name)
    if existing is None:
        return name
    labels = existing.labels or {}
    if labels.get(LABEL_PROJECT) == str(project.root):
        if docker_ops.status(existing) in ("running", "restarting"):
            raise DockerError(
                f"container {name} of this project is still running (another tc dev-run?)",
                f"wait for it to finish, or stop it: docker rm -f {name}",
            )
        docker_ops.remove(existing)
        rep.line(f"replaced the previous container {name}", style="dim")
        return name
    for index in range(2, 100):
        candidate = f"{name}-{index}"
        if docker_ops.find_container(client, candidate) is None:
            rep.warn(f"container name {name} is taken by another container: using {candidate}")
            return candidate
    raise DockerError(f"container names {name}-2 … {name}-99 are all taken", "remove old containers")


def _cleanup(container: Any, keep: bool, rep: Reporter) -> None:
    from tcli import docker_ops

    if container is None:
        return
    docker_ops.stop(container, timeout=2)
    if keep:
        rep.line(f"stopped container {container.name} (kept: --keep)")
    else:
        docker_ops.remove(container)
        rep.line(f"stopped and removed container {container.name}")


def _follow(
    container: Any,
    project: Project,
    custom: CustomJson,
    summary: Summary,
    rep: Reporter,
    started: float,
    since_wall: float,
    since: float | None = None,
) -> Summary:
    """Stream logs, wait, check the score and the model, fill and return the summary."""
    from tcli import docker_ops

    watcher = LogWatcher(custom.score_regexp)
    for line in docker_ops.stream_lines(container, since=since):
        rep.log(line)
        found = watcher.feed(line, time.monotonic())
        if found is not None:
            rounded = round_score(found)
            shown = f"{rounded}" if rounded is not None else found
            rep.line(f"score {custom.score_name} = {shown} (from the log: {found})", style="ok")
    state = docker_ops.wait(container)
    ended = time.monotonic()
    summary.exit_code = state.exit_code
    if watcher.train_started is not None:
        summary.durations["setup"] = round(watcher.train_started - started, 2)
        summary.durations["train"] = round(ended - watcher.train_started, 2)
    else:
        summary.durations["setup"] = None
        summary.durations["train"] = round(ended - started, 2)
    summary.durations["run"] = round(ended - started, 2)
    raw = watcher.final_score()
    summary.score_raw = raw
    summary.score = round_score(raw) if raw is not None else None
    host, size, problem = _model_check(project, custom, container, since_wall)
    summary.model_file, summary.model_bytes = host, size

    failure: RunFailed | None = None
    if state.oom_killed:
        summary.status = "oom-killed"
        failure = RunFailed(
            f"container {summary.container} was OOM-killed (out of memory, exit {state.exit_code})",
            "lower batch_size or the image size in train_config.json, or give the container "
            "more memory (--memory, Docker Desktop's limit)",
        )
    elif state.exit_code != 0:
        summary.status = "failed"
        failure = RunFailed(
            f"container {summary.container} exited with code {state.exit_code}",
            f"the last log lines are above; full log: docker logs {summary.container}",
        )
    elif raw is None:
        summary.status = "failed"
        failure = RunFailed(
            f"no log line matched custom.json's score_regexp {custom.score_regexp.pattern!r}",
            "train.py must print its final score in that form (the platform reads it from the log)",
        )
    elif problem is not None:
        summary.status = "failed"
        failure = RunFailed(problem, "train.py must save the model to custom.json's model_filepath")
    else:
        summary.status = "succeeded"
    if failure is not None and state.exit_code != 0:
        rep.line(f"last log lines of {summary.container}:", style="error")
        for line in watcher.last_lines():
            rep.line(f"  {line}")
    print_summary(rep, summary, project)
    if failure is not None:
        raise failure
    return summary


def print_summary(rep: Reporter, summary: Summary, project: Project) -> None:
    """The summary: human-readable lines, or JSON on stdout with ``--json``."""
    if rep.json_mode:
        console.out().print(summary.to_json(), markup=False, highlight=False, soft_wrap=True)
        return
    d = summary.durations

    def sec(key: str) -> str:
        value = d.get(key)
        return f"{value:.1f} s" if isinstance(value, (int, float)) else "-"

    score = "-"
    if summary.score_raw is not None:
        score = f"{summary.score_name} {summary.score if summary.score is not None else summary.score_raw}"
    if summary.model_file and summary.model_bytes is not None:
        model = f"{os.path.relpath(summary.model_file, project.root)} ({human_bytes(summary.model_bytes)})"
    elif summary.model_bytes is not None:
        model = f"{summary.model_filepath} ({human_bytes(summary.model_bytes)}, in the container)"
    else:
        model = f"missing ({summary.model_filepath})"
    timing = f"setup {sec('setup')} · train {sec('train')}"
    if "build" in d:
        timing = f"build {sec('build')} · " + timing
    style = "ok" if summary.status == "succeeded" else "error"
    rep.line(f"status     {summary.status} (exit {summary.exit_code})", style=style)
    rep.line(f"score      {score}")
    rep.line(f"model      {model}")
    rep.line(f"durations  {timing}")
    rep.line(f"container  {summary.container} (again with: tc dev-run --rerun)")


# --------------------------------------------------------------------------- rerun


def _rerun(
    client: Any,
    project: Project,
    template: TemplateRef,
    custom: CustomJson,
    opts: DevRunOptions,
    rep: Reporter,
) -> Summary:
    from tcli import docker_ops

    found = docker_ops.containers_with_labels(
        client, {LABEL_PROJECT: str(project.root), LABEL_TEMPLATE: template.key}
    )
    if not found:
        raise InputError(
            f"no container of {template.key} to rerun",
            "run 'tc dev-run' (without --rerun) first; it keeps the finished container",
        )
    container = found[0]
    name = str(container.name)
    if docker_ops.status(container) in ("running", "restarting"):
        raise DockerError(f"container {name} is still running", f"wait, or: docker rm -f {name}")
    env = (container.attrs.get("Config") or {}).get("Env") or []
    env_map = dict(item.split("=", 1) for item in env if "=" in item)
    dataset_id: int | None = opts.dataset_id
    rep.line(f"tc dev-run --rerun: {template.key} (docker start {name})", style="info")
    if dataset_id is not None:
        layout = _prepare_dataset(project, template, opts, dataset_id)
        if layout.volumes:
            raise InputError(
                f"--dataset {opts.dataset}: on another file system than the project",
                "an existing container cannot get new mounts; use a folder on the same file "
                "system, or run without --rerun",
            )
        _describe_dataset(rep, project, layout)
        current = docker_ops.read_file(container, "/workspace/.env") or b""
        new_env = env_with_dataset_id(current.decode("utf-8", "replace"), dataset_id)
        docker_ops.put_file(container, "/workspace/.env", new_env.encode("utf-8"))
        rep.line(f"wrote DATASET_ID={dataset_id} into {name}:/workspace/.env (as the platform does)")
    else:
        current = docker_ops.read_file(container, "/workspace/.env") or b""
        match = re.search(r"^\s*(?:export\s+)?DATASET_ID\s*=\s*['\"]?(\d+)", current.decode(
            "utf-8", "replace"), re.MULTILINE)
        value = match.group(1) if match else env_map.get("DATASET_ID", "")
        dataset_id = int(value) if value.isdigit() else None
    visible = env_map.get("NVIDIA_VISIBLE_DEVICES", "void")
    summary = Summary(
        status="running",
        exit_code=None,
        project=str(project.root),
        template=template.key,
        image=str((container.attrs.get("Config") or {}).get("Image", "")),
        container=name,
        dataset_id=dataset_id,
        gpus="none" if visible in ("void", "none", "") else visible,
        score_name=custom.score_name,
        model_filepath=custom.model_filepath,
        rerun=True,
    )
    try:
        since_wall = time.time()
        started = time.monotonic()
        docker_ops.start(container)
        return _follow(
            container, project, custom, summary, rep, started, since_wall, since=since_wall
        )
    except KeyboardInterrupt:
        with _no_interrupts():
            docker_ops.stop(container, timeout=2)
            rep.line(f"stopped container {name} (kept: it is the container being rerun)")
        raise Aborted("interrupted") from None
