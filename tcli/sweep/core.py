"""``tc sweep``'s core: the options, the space (:mod:`space`), the storage (:mod:`store`), the
image built once and the dataset laid out as ``tc dev-run`` does (:mod:`tcli.devrun`), the
trials (:mod:`runner`), the result, the report (:mod:`report`) and ``--apply``."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tcli.contract import CONFIG_SCHEMA, TRAIN_CONFIG
from tcli.devrun.options import DevRunOptions
from tcli.errors import InputError
from tcli.project import Project, TemplateRef
from tcli.safety import atomic, jsonload
from tcli.sweep import store
from tcli.sweep.result import SweepEvents, SweepResult, TrialRow
from tcli.sweep.space import (
    Param,
    default_point,
    narrow,
    parse_param,
    read_sweep_file,
    space_from_schema,
    trial_config,
)

MAX_TRIALS = 10_000
MAX_PARALLEL = 64


@dataclass
class SweepOptions:
    """What ``tc sweep`` was asked."""

    template: str | None = None
    trials: int | None = None
    params: list[str] = field(default_factory=list)
    sweep_file: Path | None = None
    minimize: bool = False
    parallel: int | None = None
    timeout: float | None = None
    name: str | None = None
    resume: str | None = None
    apply: bool = False
    dry_run: bool = False
    run: DevRunOptions = field(default_factory=DevRunOptions)


@dataclass
class Plan:
    """A sweep's inputs, read and checked (no Docker yet)."""

    project: Project
    template: TemplateRef
    config: dict[str, Any]
    meta: store.SweepMeta
    folder: Path
    baseline: dict[str, Any] | None


def read_inputs(template: TemplateRef) -> tuple[dict[str, Any], dict[str, Any]]:
    """(config.jsonschema, train_config.json) of the template."""
    schema = jsonload.load(template.config_dir / CONFIG_SCHEMA)
    config = jsonload.load(template.config_dir / TRAIN_CONFIG)
    for path, data in ((CONFIG_SCHEMA, schema), (TRAIN_CONFIG, config)):
        if not isinstance(data, dict):
            raise InputError(f"{template.config_dir / path}: expected a JSON object")
    return schema, config


def plan(path: Path, opts: SweepOptions) -> Plan:
    """Read and check everything a sweep needs; InputError (exit 2) naming what is wrong."""
    from tcli.devrun.launch import open_template

    project, template, custom = open_template(path, opts.run)
    schema, config = read_inputs(template)
    if opts.resume:
        if opts.params or opts.sweep_file or opts.name or opts.minimize:
            raise InputError("--resume continues a sweep as it was asked",
                             "leave out --param, --sweep-file, --name and --minimize")
        folder = store.sweep_dir(project.tc_dir, opts.resume)
        meta = store.load_meta(folder, opts.resume)
        if opts.trials is not None:
            meta.trials = _trials(opts.trials)
        if opts.parallel is not None:
            meta.parallel = _parallel(opts.parallel)
        if meta.template != template.key:
            raise InputError(f"sweep {opts.resume} is of {meta.template}, not {template.key}",
                             f"pass --template {meta.template}")
        return Plan(project, template, config, meta, folder, None)
    params: list[Param] = []
    file_opts: dict[str, Any] = {}
    if opts.sweep_file is not None:
        params, file_opts = read_sweep_file(opts.sweep_file, schema)
    params += [parse_param(p, schema) for p in opts.params]
    space = narrow(space_from_schema(schema), params)
    if not any(not p.fixed for p in space.values()):
        raise InputError("nothing to search: every parameter is fixed or left out",
                         "give a range with --param NAME=LOW:HIGH or choices NAME=a,b")
    trials = opts.trials if opts.trials is not None else file_opts.get("trials")
    if trials is None:
        raise InputError("--trials N is needed (how many trials to run)", "e.g. --trials 20")
    name = store.check_name(opts.name or time.strftime("sweep-%Y%m%d-%H%M%S"))
    minimize = opts.minimize or bool(file_opts.get("minimize", False))
    meta = store.SweepMeta(name=name, template=template.key,
                           direction="minimize" if minimize else "maximize",
                           trials=_trials(trials), space=space, score_name=custom.score_name,
                           parallel=_parallel(opts.parallel or file_opts.get("parallel") or 1))
    return Plan(project, template, config, meta, store.sweep_dir(project.tc_dir, name),
                default_point(space, config))


@dataclass
class DryRun:
    """``--dry-run``: the sweep that would run and its first trial's container."""

    plan: Plan
    first: Any  # tcli.job.local.RunSpec of trial 1
    first_config: dict[str, Any]


def dry_run(path: Path, opts: SweepOptions) -> DryRun:
    """The plan and trial 1's ``docker create`` parameters: no daemon, nothing written."""
    from tcli.devrun.job import dev_run_spec
    from tcli.devrun.minio import plan_dataset
    from tcli.devrun.naming import container_name
    from tcli.devrun.plan import offline_gpus
    from tcli.job import local
    from tcli.job.gpus import split_for_trials
    from tcli.job.trial import LABEL_SWEEP, LABEL_TRIAL, trial_spec

    p = plan(path, opts)
    gpu, _note = offline_gpus(opts.run.gpus)
    slot = split_for_trials(gpu, p.meta.parallel)[0]
    layout = plan_dataset(p.project, p.template, opts.run,
                          1 if opts.run.dataset_id is None else opts.run.dataset_id)
    name = container_name(p.project, p.template)
    spec = dev_run_spec(p.project, p.template, opts.run, gpu, layout, name=name)
    config = trial_config(p.config, p.baseline or {}, p.meta.space)
    trial = trial_spec(spec, name=f"{name}-sweep-{p.meta.name}-1", config=config,
                       output_source=p.folder / "trials" / "0001" / "train",
                       gpus=slot.node_gpus(), labels={LABEL_SWEEP: p.meta.name, LABEL_TRIAL: "1"})
    return DryRun(p, local.container(trial), config)


def _trials(value: int) -> int:
    if not 1 <= value <= MAX_TRIALS:
        raise InputError(f"--trials {value}: must be between 1 and {MAX_TRIALS}")
    return value


def _parallel(value: int) -> int:
    if not 1 <= value <= MAX_PARALLEL:
        raise InputError(f"--parallel {value}: must be between 1 and {MAX_PARALLEL}")
    return value


def rows_of(study: Any) -> list[TrialRow]:
    """Every stored trial as a table row, in trial order."""
    rows = []
    for t in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        value = t.value if t.state.name == "COMPLETE" else None
        rows.append(TrialRow(number=t.number + 1, state=store.state_name(t), params=dict(t.params),
                             score=value, epochs=len(t.intermediate_values),
                             seconds=t.user_attrs.get("seconds"),
                             baseline=bool(t.user_attrs.get(store.BASELINE)),
                             note=str(t.user_attrs.get("note", ""))))
    return rows


def result_of(p: Plan, study: Any, interrupted: list[int]) -> SweepResult:
    rows = rows_of(study)
    done = [r for r in rows if r.state == "complete" and r.score is not None]
    best = None
    if done:
        pick = min if p.meta.direction == "minimize" else max
        best = pick(done, key=lambda r: (r.score, -r.number))
    base = next((r.score for r in rows if r.baseline and r.state == "complete"), None)
    res = SweepResult(
        name=p.meta.name, template=p.meta.template, direction=p.meta.direction,
        score_name=p.meta.score_name, trials_asked=p.meta.trials, folder=str(p.folder),
        storage=str(p.folder / store.STUDY_DB), trials=rows, best=best, baseline_score=base,
        resumed_interrupted=interrupted)
    if best is not None:
        res.best_config = trial_config(p.config, best.params, p.meta.space)
    return res


def apply_best(p: Plan, res: SweepResult) -> None:
    """Write the best trial's config into the template's train_config.json (atomically)."""
    from tcli.job.trial import config_text

    if res.best_config is None:
        raise InputError("--apply: no trial completed with a score; train_config.json unchanged")
    target = p.template.config_dir / TRAIN_CONFIG
    atomic.write_text(target, config_text(res.best_config))
    res.applied = str(target)


def sweep(path: Path, opts: SweepOptions, events: SweepEvents) -> SweepResult:
    """Run (or resume) a sweep; see the module doc. Raises InputError, DockerError,
    BuildFailed, Aborted."""
    from tcli.safety.lock import locked

    p = plan(path, opts)
    # one tc per sweep: a second one would take the first's running trial for a crashed one
    with locked(p.folder / "sweep.lock", timeout_s=1.0, what=f"sweep {p.meta.name}"):
        return _run(p, opts, events)


def _run(p: Plan, opts: SweepOptions, events: SweepEvents) -> SweepResult:
    from tcli import engine
    from tcli.baseimage import choose_base_image, flavor_for_docker_dir
    from tcli.custom_json import read_custom
    from tcli.devrun.job import dev_run_spec
    from tcli.devrun.launch import build_template_image, dockerfile_base_image
    from tcli.devrun.minio import check_target, prepare_dataset, train_root
    from tcli.devrun.naming import container_name
    from tcli.devrun.options import plan_gpus
    from tcli.job.gpus import split_for_trials
    from tcli.sweep.report import write_report
    from tcli.sweep.runner import Trials, run_trials

    project, template, run = p.project, p.template, opts.run
    if opts.resume and (p.folder / store.STUDY_DB).is_file():
        stored = store.load(p.folder, p.meta)
        if store.counted(stored) >= p.meta.trials:  # nothing left to run: no Docker needed
            events.line(f"tc sweep: {p.meta.name} has its {p.meta.trials} trials", style="info")
            res = result_of(p, stored, [])
            res.report = write_report(p.folder, res, p.meta.space, stored)
            if opts.apply:
                apply_best(p, res)
            return res
    dataset_id = 1 if run.dataset_id is None else run.dataset_id
    check_target(project, run, dataset_id)
    client = engine.connect()
    gpu = plan_gpus(run.gpus, engine.daemon_info(client).nvidia)
    slots = split_for_trials(gpu, p.meta.parallel)
    if opts.resume:
        study = store.load(p.folder, p.meta)
        interrupted = [t.number for t in study.get_trials(deepcopy=False)
                       if t.user_attrs.get(store.INTERRUPTED)]
        events.line(f"tc sweep: resuming {p.meta.name} ({store.counted(study)} of {p.meta.trials} "
                 f"trials finished; storage {p.folder / store.STUDY_DB})", style="info")
    else:
        study = store.create(p.folder, p.meta, p.baseline)
        interrupted = []
        events.line(f"tc sweep: {p.meta.name} on {template.key}, {p.meta.trials} trials, "
                 f"{p.meta.direction} {p.meta.score_name} (storage {p.folder / store.STUDY_DB})",
                 style="info")
    for param in p.meta.space.values():
        events.line(f"  {param.name}: {param.describe()}{' (fixed)' if param.fixed else ''}")
    layout = prepare_dataset(project, template, run, dataset_id)
    train_root(project).mkdir(parents=True, exist_ok=True)
    choice = choose_base_image(
        client, explicit=run.base_image,
        dockerfile_default=dockerfile_base_image(template.docker_dir / "Dockerfile"),
        flavor=flavor_for_docker_dir(template.docker_dir), template=template.key,
        on_status=events.line)
    build_template_image(client, project, template, choice.image, choice.as_build_arg, run, events)
    if gpu.warning:
        events.warn(gpu.warning)
    spec = dev_run_spec(project, template, run, gpu, layout, name=container_name(project, template))
    ctx = Trials(client=client, study=study, meta=p.meta, custom=read_custom(template), spec=spec,
                 config=p.config, folder=p.folder, events=events)
    deadline = time.monotonic() + opts.timeout if opts.timeout else None
    try:
        run_trials(ctx, slots, deadline)
    finally:
        res = result_of(p, study, interrupted)
        res.report = write_report(p.folder, res, p.meta.space, study)
    if opts.apply:
        apply_best(p, res)
    return res
