"""The search space from a template's form schema, and --param / sweep-file parsing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tcli.errors import InputError
from tcli.sweep.space import (
    CHOICE,
    FLOAT,
    INT,
    Param,
    default_point,
    narrow,
    parse_param,
    read_sweep_file,
    space_from_schema,
    trial_config,
)

VARIANTS = Path(__file__).resolve().parents[3] / "scaffolds" / "variants"


def schema(variant: str = "sklearn") -> dict:
    return json.loads((VARIANTS / variant / "config" / "config.jsonschema").read_text())


def config(variant: str = "sklearn") -> dict:
    return json.loads((VARIANTS / variant / "config" / "train_config.json").read_text())


def test_space_of_the_sklearn_form() -> None:
    space = space_from_schema(schema())
    assert list(space) == ["architecture", "img-size", "histogram-bins", "c", "max-iter",
                           "n-estimators", "max-depth"]
    assert space["architecture"] == Param("architecture", CHOICE,
                                          choices=("logistic_regression", "random_forest"))
    assert space["img-size"] == Param("img-size", INT, 4, 128, log=False)
    assert space["histogram-bins"] == Param("histogram-bins", INT, 2, 256, log=True)
    # exclusiveMinimum 0: from a thousandth of the default, on a log scale
    assert space["c"] == Param("c", FLOAT, 0.001, 1000000.0, log=True)
    assert space["max-depth"].log is False  # starts at 0


def test_space_of_the_classification_form_has_booleans_and_leaves_budget_out() -> None:
    space = space_from_schema(schema("classification"))
    assert space["no-augment"] == Param("no-augment", CHOICE, choices=(False, True))
    assert space["learning-rate"].kind == FLOAT and space["learning-rate"].log
    for left_out in ("epochs", "num-workers", "seed", "train-split", "test-split", "split",
                     "weights"):
        assert left_out not in space


@pytest.mark.parametrize(("spec", "expected"), [
    ("c=0.01:100:log", Param("c", FLOAT, 0.01, 100.0, log=True)),
    ("img-size=8:32", Param("img-size", INT, 8, 32)),
    ("architecture=random_forest,logistic_regression",
     Param("architecture", CHOICE, choices=("random_forest", "logistic_regression"))),
    ("n-estimators=50", Param("n-estimators", CHOICE, choices=(50,))),
    ("seed=1,2,3", Param("seed", CHOICE, choices=(1, 2, 3))),
])
def test_good_params(spec: str, expected: Param) -> None:
    assert parse_param(spec, schema()) == expected


def test_boolean_choices() -> None:
    assert parse_param("no-amp=true", schema("classification")).choices == (True,)
    assert parse_param("no-amp=false,true", schema("classification")).choices == (False, True)


@pytest.mark.parametrize(("spec", "message"), [
    ("foo=1:2", "--param foo=1:2: foo is not a parameter of config.jsonschema"),
    ("img-size=1:20", "--param img-size=1:20: 1 is outside img-size's bounds [4, 128] in "
                      "config.jsonschema"),
    ("img-size=8:500", "--param img-size=8:500: 500 is outside img-size's bounds [4, 128]"),
    ("c=0:10", "--param c=0:10: 0.0 is outside c's bounds (0, 1000000]"),
    ("architecture=a:b", "--param architecture=a:b: architecture is a string parameter, not a "
                         "number: a range needs numbers"),
    ("architecture=svm", "--param architecture=svm: 'svm' is not one of architecture's values"),
    ("img-size=8.5:16", "--param img-size=8.5:16: img-size is an integer in config.jsonschema; "
                        "'8.5' is not"),
    ("img-size=16:8", "--param img-size=16:8: img-size: LOW must be less than HIGH"),
    ("img-size=8:16:lin", "--param img-size=8:16:lin: a range is LOW:HIGH or LOW:HIGH:log"),
    ("max-depth=0:10:log", "--param max-depth=0:10:log: max-depth: a log scale needs LOW > 0"),
    ("train-split=0.1:0.9", "--param train-split=0.1:0.9: train-split is read by setup.py"),
    ("c", "--param c: expected NAME=LOW:HIGH[:log], NAME=a,b,c or NAME=value"),
    ("c=nan:1", "--param c=nan:1: c: 'nan' is not a finite number"),
    ("img-size=8,8", "--param img-size=8,8: img-size: a value is listed twice"),
])
def test_bad_params_name_the_parameter(spec: str, message: str) -> None:
    with pytest.raises(InputError) as err:
        parse_param(spec, schema())
    assert err.value.message.startswith(message), err.value.message
    assert "\n" not in err.value.message


def test_narrow_replaces_and_adds() -> None:
    space = narrow(space_from_schema(schema()), [parse_param("c=0.1:10", schema()),
                                                 parse_param("seed=0,1", schema())])
    assert space["c"] == Param("c", FLOAT, 0.1, 10.0)
    assert space["seed"].choices == (0, 1)


def test_baseline_and_trial_config_keep_file_order() -> None:
    space = narrow(space_from_schema(schema()), [parse_param("n-estimators=5:100", schema()),
                                                 parse_param("max-depth=3", schema())])
    point = default_point(space, config())
    # a default outside a narrowed range is kept: the default config is the yardstick
    assert point is not None and point["n-estimators"] == 200 and "max-depth" not in point
    out = trial_config(config(), {"c": 3.5}, space)
    assert list(out) == list(config())
    assert out["c"] == 3.5 and out["max-depth"] == 3 and out["img-size"] == 16
    narrowed = narrow(space, [parse_param("architecture=random_forest", schema()),
                              parse_param("img-size=4,8", schema())])
    assert default_point(narrowed, config()) is None  # 16 is not a choice


def test_sweep_file(tmp_path: Path) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_text("params:\n  c: '0.01:100:log'\n  architecture: [random_forest]\n"
                    "  no-such: 3\ntrials: 5\n")
    with pytest.raises(InputError, match="--param no-such=3: no-such is not a parameter"):
        read_sweep_file(path, schema())
    path.write_text("params:\n  c: '0.01:100:log'\n  architecture: [random_forest]\ntrials: 5\n")
    params, opts = read_sweep_file(path, schema())
    assert [p.name for p in params] == ["c", "architecture"] and opts == {"trials": 5}
    path.write_text("params: {}\ntrial: 5\n")
    with pytest.raises(InputError, match="unknown key"):
        read_sweep_file(path, schema())
