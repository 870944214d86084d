"""Saving from the form: tc validate's rules, stable key order and format, atomic writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tcli.errors import InputError
from tcli.form import document


def _cfg(project: Path) -> Path:
    return next(project.glob("templates/*/*/*/config/train_config.json"))


def test_key_order_and_number_format_kept(project: Path) -> None:
    cfg = _cfg(project)
    data = json.loads(cfg.read_text())
    # the file holds its own order, a key the schema does not know, and lacks one the schema has
    del data["seed"]
    reordered = {"seed-extra": 7, **{k: data[k] for k in reversed(list(data))}}
    cfg.write_text(json.dumps(reordered, indent=2) + "\n")
    target = document.load_target(project)
    sent = {k: v for k, v in reordered.items() if k != "seed-extra"}
    sent["c"] = 1          # the browser sends 1.0 as 1
    sent["seed"] = 3       # new key: goes after the file's keys
    result = document.save(target, sent)
    assert result.ok, result.errors
    saved = json.loads(cfg.read_text())
    assert list(saved) == [*reordered, "seed"]
    assert saved["seed-extra"] == 7 and saved["seed"] == 3
    assert '"c": 1.0' in cfg.read_text()


def test_invalid_data_is_not_written(project: Path) -> None:
    cfg = _cfg(project)
    before = cfg.read_bytes()
    target = document.load_target(project)
    data = json.loads(before)
    result = document.save(target, {**data, "architecture": "svm", "c": 0})
    assert not result.ok
    assert {e["pointer"] for e in result.errors} == {"/architecture", "/c"}
    assert cfg.read_bytes() == before
    assert not document.save(target, ["not", "an", "object"]).ok


def test_same_rules_as_tc_validate(project: Path) -> None:
    """What the form refuses, tc validate reports as config.schema-violation, and vice versa."""
    from tcli.validate import validate_project

    cfg = _cfg(project)
    data = json.loads(cfg.read_text())
    bad = {**data, "max-iter": 5}
    errors = document.validate_instance(document.load_target(project), bad)
    cfg.write_text(json.dumps(bad, indent=2) + "\n")
    report = validate_project(project)
    found = [(f.pointer, f.message) for f in report.findings if f.code == "config.schema-violation"]
    assert found == [(e["pointer"], e["message"]) for e in errors] == [
        ("/max-iter", "5 is less than the minimum of 10")]


def test_missing_config_starts_from_defaults_and_is_created(project: Path) -> None:
    cfg = _cfg(project)
    original = cfg.read_text()
    cfg.unlink()
    target = document.load_target(project)
    state = document.state(target)
    assert state["formData"] == json.loads(original)
    assert document.save(target, state["formData"]).ok
    assert cfg.read_text() == original
    assert not list(cfg.parent.glob(".*tmp"))


def test_export_form_keeps_its_indentation(project: Path) -> None:
    target = document.load_target(project, export=True)
    assert target.file == "export/export_config.json"
    text = target.config_path.read_text()
    data = json.loads(text)
    result = document.save(target, {**data, "opset_version": 13})
    assert result.ok, result.errors
    assert target.config_path.read_text() == json.dumps({**data, "opset_version": 13}, indent=4) + "\n"
    assert not document.save(target, {**data, "model_type": "caffe"}).ok


def test_unusable_schema_is_one_clear_error(project: Path) -> None:
    schema = next(project.glob("templates/*/*/*/config/config.jsonschema"))
    schema.write_text('{"type": "object", "properties": {"a": {"type": "integr"}}}')
    with pytest.raises(InputError, match=r"config.jsonschema at /properties/a/type"):
        document.load_target(project)
    schema.write_text("{not json")
    with pytest.raises(InputError, match="invalid JSON"):
        document.load_target(project)
