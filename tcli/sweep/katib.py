"""``tc export katib``: the same search as ``tc sweep`` as a Katib ``Experiment``
(``kubeflow.org/v1beta1``), loaded into Katib's own API models (``kubeflow-katib``) and read
back unchanged before it is written.

* parameters: the sweep's space (:mod:`tcli.sweep.space`): ``int``/``double`` with min/max
  (``distribution: logUniform`` for a log range where the installed Katib models know the
  field), ``categorical`` lists (booleans as ``"false"``/``"true"``);
* objective: custom.json's ``score_regexp``; Katib's StdOut collector needs a filter whose
  group 1 is the metric's name and group 2 its value, so the regexp is rewritten as
  ``(<text before the score group>)<score group><rest>`` and the metric's name is what that
  first group matches in the template's sample score line (``config/score_line.txt``);
* trial template: the PyTorchJob (default) or TrainJob ``tc export`` writes, translated from
  the same :class:`~tcli.job.spec.JobSpec` through :func:`tcli.job.trial.trial_spec`: its
  train_config.json holds ``${trialParameters.X}`` placeholders, and the container writes it
  into the workspace before it runs the image's entrypoint (``sh -c``: Katib's collector
  appends its redirect to the command's last part, the entrypoint).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from tcli.contract import IMAGE_ENTRYPOINT, SCORE_LINE, SCORE_REGEXP_KEY, TRAIN_CONFIG, WORKSPACE
from tcli.errors import InputError, ValidationFailed
from tcli.job.spec import JobSpec
from tcli.safety import rx
from tcli.scaleout import manifests
from tcli.scaleout.kubeflow import EXTRA_HINT, _compare
from tcli.sweep.space import CHOICE, INT, Param, trial_config

KATIB_API = "kubeflow.org/v1beta1"
#: The variable the trial's container writes into train_config.json.
CONFIG_ENV = "TC_TRAIN_CONFIG"
TRIAL_KINDS = ("pytorchjob", "trainjob")
#: Python-only regexp syntax Katib's Go (RE2) collector cannot run.
_NOT_RE2 = re.compile(r"\(\?(?:=|!|<=|<!|P=)|\\[1-9]|\(\?\(")


def placeholder_name(name: str) -> str:
    """A trial parameter's name for ``${trialParameters.NAME}`` (letters and digits)."""
    parts = re.split(r"[^A-Za-z0-9]+", name)
    return (parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])) or "p"


def _first_group(pattern: str) -> tuple[int, int] | None:
    """(start, end) of the first capturing group of ``pattern`` (end: after its ``)``)."""
    depth, start, i = 0, -1, 0
    in_class = False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "(":
            capturing = not pattern.startswith("(?", i) or pattern.startswith("(?P<", i)
            if start < 0 and capturing:
                start, depth = i, 0
            if start >= 0:
                depth += 1
        elif ch == ")" and start >= 0:
            depth -= 1
            if depth == 0:
                return start, i + 1
        i += 1
    return None


def katib_filter(pattern: str, sample: str) -> tuple[str, str]:
    """(Katib's metricsFormat regexp, the objective metric's name) from ``score_regexp``."""
    if _NOT_RE2.search(pattern):
        raise InputError(f"score_regexp {pattern!r} uses lookarounds or back-references, which "
                         "Katib's collector (Go RE2) cannot run", "simplify the regexp")
    found = _first_group(pattern)
    if found is None or found[0] == 0:
        raise InputError(f"score_regexp {pattern!r}: Katib needs text before the score group "
                         "to name the metric", "e.g. 'Test metric +Accuracy +(\\d+\\.\\d+)'")
    start, end = found
    katib = f"({pattern[:start]}){pattern[start:end]}{pattern[end:]}"
    match = rx.search(katib, sample, what=SCORE_REGEXP_KEY)
    if match is None or not match.group(1).strip():
        raise InputError(f"score_regexp {pattern!r} does not match config/score_line.txt",
                         "the sample score line names the metric for Katib; fix one of them")
    return katib, match.group(1).strip()


def parameters(space: Mapping[str, Param], log_field: bool) -> list[dict[str, Any]]:
    out = []
    for name, p in space.items():
        if p.fixed:
            continue
        if p.kind == CHOICE:
            values = [json.dumps(c) if isinstance(c, bool) else str(c) for c in p.choices]
            out.append({"name": name, "parameterType": "categorical",
                        "feasibleSpace": {"list": values}})
            continue
        space_doc: dict[str, Any] = {"min": str(p.low), "max": str(p.high)}
        if p.log and log_field:
            space_doc["distribution"] = "logUniform"
        out.append({"name": name, "parameterType": "int" if p.kind == INT else "double",
                    "feasibleSpace": space_doc})
    return out


def templated_config(config: Mapping[str, Any], space: Mapping[str, Param]) -> str:
    """train_config.json with ``${trialParameters.X}`` where each searched value goes (quoted
    for strings, bare for numbers and booleans, so the substituted text is JSON)."""
    marks: dict[str, str] = {}
    values: dict[str, Any] = {}
    for name, p in space.items():
        if p.fixed:
            continue
        mark = f"@@tc-{len(marks)}@@"
        ref = "${trialParameters." + placeholder_name(name) + "}"
        strings = p.kind == CHOICE and all(isinstance(c, str) for c in p.choices)
        marks[json.dumps(mark)] = json.dumps(ref) if strings else ref
        values[name] = mark
    text = json.dumps(trial_config(config, values, space), ensure_ascii=False)
    for quoted, ref in marks.items():
        text = text.replace(quoted, ref)
    return text


def _trial_container(doc: dict[str, Any], kind: str) -> dict[str, Any]:
    if kind == "pytorchjob":
        container: dict[str, Any] = doc["spec"]["pytorchReplicaSpecs"]["Master"]["template"][
            "spec"]["containers"][0]
        return container
    trainer: dict[str, Any] = doc["spec"]["trainer"]
    return trainer


def trial_template(spec: JobSpec, cfg: manifests.ClusterConfig, kind: str,
                   space: Mapping[str, Param]) -> dict[str, Any]:
    """Katib's trialTemplate: the job manifest of ``kind`` translated from a trial's ``spec``
    (:func:`tcli.job.trial.trial_spec`); its container writes the spec's workspace files
    (train_config.json with the placeholders) and then runs the image's entrypoint."""
    doc = manifests.TRANSLATIONS[kind](spec, cfg)
    doc["metadata"].pop("name", None)  # Katib names each trial's job
    doc["metadata"].pop("namespace", None)
    files = dict(spec.workspace_files)
    if set(files) != {TRAIN_CONFIG}:
        raise ValueError(f"a Katib trial writes {TRAIN_CONFIG} only, not {sorted(files)}")
    script = (f'printf "%s" "${CONFIG_ENV}" > {WORKSPACE}/{TRAIN_CONFIG} && '
              f"{' '.join(spec.entrypoint or IMAGE_ENTRYPOINT)}")
    replicas = ([r["template"]["spec"]["containers"][0]
                 for r in doc["spec"]["pytorchReplicaSpecs"].values()]
                if kind == "pytorchjob" else [_trial_container(doc, kind)])
    for container in replicas:
        container["command"] = ["sh", "-c", script]
        container.pop("args", None)
        container["env"] = [*container.get("env", []), {"name": CONFIG_ENV, "value": files[TRAIN_CONFIG]}]
    if kind == "pytorchjob":
        primary, labels = "pytorch", {"training.kubeflow.org/job-role": "master"}
        ok, failed = "Succeeded", "Failed"
    else:
        primary, labels = "node", {"jobset.sigs.k8s.io/replicatedjob-name": "node",
                                   "batch.kubernetes.io/job-completion-index": "0"}
        ok, failed = "Complete", "Failed"
    return {
        "primaryContainerName": primary,
        "primaryPodLabels": labels,
        "successCondition": f'status.conditions.#(type=="{ok}")#|#(status=="True")#',
        "failureCondition": f'status.conditions.#(type=="{failed}")#|#(status=="True")#',
        "trialParameters": [
            {"name": placeholder_name(n), "reference": n,
             "description": f"{n} of train_config.json"}
            for n, p in space.items() if not p.fixed],
        "trialSpec": doc,
    }


def experiment(*, name: str, namespace: str | None, spec: JobSpec, cfg: manifests.ClusterConfig,
               kind: str, space: Mapping[str, Param], config: Mapping[str, Any],
               score_regexp: str, score_sample: str, direction: str, trials: int,
               parallel: int) -> dict[str, Any]:
    """The Experiment document (plain data; :func:`validate` loads it into Katib's models)."""
    from tcli.job.trial import trial_spec

    if kind not in TRIAL_KINDS:
        raise InputError(f"--trial-kind {kind!r}", f"use one of: {', '.join(TRIAL_KINDS)}")
    metrics_format, metric = katib_filter(score_regexp, score_sample)
    job = trial_spec(spec, name=spec.name, config=templated_config(config, space),
                     output_source=None)
    meta: dict[str, Any] = {"name": name, "labels": {"app.kubernetes.io/managed-by": "tc"}}
    if namespace:
        meta["namespace"] = namespace
    return {
        "apiVersion": KATIB_API,
        "kind": "Experiment",
        "metadata": meta,
        "spec": {
            "objective": {"type": direction, "objectiveMetricName": metric},
            "algorithm": {"algorithmName": "tpe"},
            "parallelTrialCount": parallel,
            "maxTrialCount": trials,
            "maxFailedTrialCount": trials,
            "parameters": parameters(space, log_field=_katib_has_distribution()),
            "metricsCollectorSpec": {
                "collector": {"kind": "StdOut"},
                "source": {"filter": {"metricsFormat": [metrics_format]}},
            },
            "trialTemplate": trial_template(job, cfg, kind, space),
        },
    }


def _katib_has_distribution() -> bool:
    try:
        from kubeflow.katib import V1beta1FeasibleSpace
    except ImportError:
        return False
    return "distribution" in V1beta1FeasibleSpace.attribute_map


def validate(doc: dict[str, Any]) -> Any:
    """The ``V1beta1Experiment`` model of ``doc``; ValidationFailed when it does not load or
    does not read back as itself (an unknown field, a wrong type)."""
    try:
        from kubeflow.katib import ApiClient
    except ImportError:
        raise InputError("kubeflow-katib is not installed",
                         EXTRA_HINT.replace("kube extra", "sweep extra")
                         .replace("[kube]", "[sweep]")) from None
    client = ApiClient()
    try:
        model = client._ApiClient__deserialize(doc, "V1beta1Experiment")
    except (ValueError, TypeError, AttributeError) as exc:
        raise ValidationFailed(f"Katib Experiment does not load into Katib's model: {exc}") \
            from None
    back = client.sanitize_for_serialization(model)
    # trialSpec is free-form in Katib's model (an object): compare the rest exactly
    _compare("Katib Experiment", doc, back)
    return model


def build_experiment(project: Any, template: Any, opts: manifests.JobOptions, *,
                     trial_kind: str, params: list[str], sweep_file: Any, trials: int | None,
                     parallel: int | None, minimize: bool) -> dict[str, Any]:
    """The checked Experiment for a project's template: the space as ``tc sweep`` makes it
    (schema, --param, sweep file), the job as ``tc export`` makes it."""
    from dataclasses import replace

    from tcli.custom_json import read_custom
    from tcli.safety import limits
    from tcli.sweep.core import read_inputs
    from tcli.sweep.space import narrow, parse_param, read_sweep_file, space_from_schema

    schema, config = read_inputs(template)
    custom = read_custom(template)
    plist: list[Param] = []
    file_opts: dict[str, Any] = {}
    if sweep_file is not None:
        plist, file_opts = read_sweep_file(sweep_file, schema)
    plist += [parse_param(p, schema) for p in params]
    space = narrow(space_from_schema(schema), plist)
    if not any(not p.fixed for p in space.values()):
        raise InputError("nothing to search: every parameter is fixed or left out",
                         "give a range with --param NAME=LOW:HIGH or choices NAME=a,b")
    count = trials or file_opts.get("trials")
    if not count:
        raise InputError("--trials N is needed (Katib's maxTrialCount)", "e.g. --trials 20")
    sample_path = template.config_dir / SCORE_LINE
    if not sample_path.is_file():
        raise InputError(f"{sample_path}: missing", "a sample of the score line names Katib's "
                         "metric; write the line train.py prints")
    sample = limits.read_text(sample_path, max_bytes=64 * 1024)
    if not opts.name:
        opts = replace(opts, name=manifests.default_name(project.root.name, template.architecture))
    opts = replace(opts, template=opts.template or template.key).check()
    if trial_kind == "trainjob" and not (template.docker_dir / "tc_torch.py").is_file() \
            and (opts.nodes > 1 or opts.procs > 1):
        raise InputError(f"{template.key} trains in one process", "use --nodes 1")
    doc = experiment(
        name=opts.name, namespace=opts.namespace, spec=manifests.spec_of(opts),
        cfg=manifests.cluster_of(opts), kind=trial_kind, space=space, config=config,
        score_regexp=custom.score_regexp.pattern, score_sample=sample,
        direction="minimize" if minimize or file_opts.get("minimize") else "maximize",
        trials=int(count), parallel=int(parallel or file_opts.get("parallel") or 1))
    validate(doc)
    return doc
