"""tc export katib: the sweep's search as a Katib Experiment, loaded into Katib's API models."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tcli.errors import InputError, ValidationFailed
from tcli.project import Project
from tcli.scaleout.manifests import JobOptions
from tcli.sweep import katib


def build(root: Path, *params: str, kind: str = "pytorchjob") -> dict:
    project = Project.load(root)
    template = project.select(None)
    opts = JobOptions(name="", image="reg.example.com/me/c:1", dataset_id="42", gpus_per_node=0)
    return katib.build_experiment(project, template, opts, trial_kind=kind, params=list(params),
                                  sweep_file=None, trials=12, parallel=2, minimize=False)


def substitute(text: str, values: dict[str, str]) -> str:
    """What Katib does to the trial template: ${trialParameters.X} -> the value's text."""
    return re.sub(r"\$\{trialParameters\.([^}]+)\}", lambda m: values[m.group(1)], text)


@pytest.mark.parametrize("kind", ["pytorchjob", "trainjob"])
def test_experiment_loads_into_katib_models_and_back(new_project: Callable[..., Path],
                                                    kind: str) -> None:
    from kubeflow.katib import ApiClient, V1beta1Experiment

    root = new_project("sklearn")
    doc = build(root, "c=0.01:100:log", "architecture=random_forest,logistic_regression",
                "seed=7", kind=kind)
    text = yaml.safe_dump(doc)
    model = ApiClient()._ApiClient__deserialize(yaml.safe_load(text), "V1beta1Experiment")
    assert isinstance(model, V1beta1Experiment)
    spec = model.spec
    assert spec.objective.type == "maximize" and spec.max_trial_count == 12
    assert spec.parallel_trial_count == 2
    names = [p.name for p in spec.parameters]
    assert "seed" not in names and names[:2] == ["architecture", "img-size"]
    c = next(p for p in spec.parameters if p.name == "c")
    assert (c.parameter_type, c.feasible_space.min, c.feasible_space.max) == ("double", "0.01",
                                                                              "100.0")
    # the metrics collector: the platform's score regexp, group 1 the metric's name
    assert spec.metrics_collector_spec.collector.kind == "StdOut"
    (fmt,) = spec.metrics_collector_spec.source.filter.metrics_format
    line = "Test metric  Accuracy  0.8750"
    match = re.search(fmt, line)
    assert match and match.group(1).strip() == spec.objective.objective_metric_name
    assert match.group(2) == "0.8750"
    # the trial writes train_config.json from the trial's values, then runs the entrypoint
    tmpl = spec.trial_template
    refs = {t.name: t.reference for t in tmpl.trial_parameters}
    assert refs["imgSize"] == "img-size"
    job = tmpl.trial_spec
    container = (job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]
                 if kind == "pytorchjob" else job["spec"]["trainer"])
    assert container["command"][:2] == ["sh", "-c"]
    assert container["command"][2].endswith("/docker-entrypoint.sh")
    config_text = next(e["value"] for e in container["env"] if e["name"] == katib.CONFIG_ENV)
    values = {"architecture": "random_forest", "imgSize": "24", "histogramBins": "9",
              "c": "0.5", "maxIter": "100", "nEstimators": "30", "maxDepth": "4"}
    config = json.loads(substitute(config_text, values))
    assert config["architecture"] == "random_forest" and config["img-size"] == 24
    assert config["c"] == 0.5 and config["seed"] == 7 and config["train-split"] == 0.8
    assert "name" not in job["metadata"]  # Katib names each trial's job


def test_a_field_katib_does_not_know_is_refused(new_project: Callable[..., Path]) -> None:
    doc = build(new_project("sklearn"))
    doc["spec"]["objective"]["goalz"] = 0.9
    with pytest.raises(ValidationFailed, match=re.escape("spec.objective.goalz")):
        katib.validate(doc)


def test_bad_param_is_one_line_naming_it(new_project: Callable[..., Path]) -> None:
    with pytest.raises(InputError, match=r"^--param lr=1:2: lr is not a parameter"):
        build(new_project("sklearn"), "lr=1:2")


@pytest.mark.parametrize(("pattern", "message"), [
    (r"(\d+\.\d+) accuracy", "needs text before the score group"),
    (r"Acc(?=uracy) (\d+)", "lookarounds or back-references"),
    (r"Loss +(\d+\.\d+)", "does not match config/score_line.txt"),
])
def test_score_regexps_katib_cannot_use(pattern: str, message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        katib.katib_filter(pattern, "Test metric  Accuracy  0.9\n")


def test_filter_keeps_groups_inside_classes_and_escapes() -> None:
    fmt, name = katib.katib_filter(r"mAP\(0\.5\)[(] +(\d+\.\d+)", "mAP(0.5)( 0.42")
    assert name == "mAP(0.5)(" and re.search(fmt, "mAP(0.5)( 0.42").group(2) == "0.42"
