"""Catastrophic regexes in a project's schema and hostile ``--log`` files (issue 28, items 1, 2).

A pattern such as ``^(a|aa)+$`` backtracks exponentially on ``'a'*60 + '!'``: with Python's
``re`` that is hours. tc must answer within its budget with one finding naming the pattern;
``--log`` must never block on a FIFO or read a device or a huge file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.hostile.conftest import Guard, tdir
from tests.hostile.harness import assert_clean_failure, assert_finding, tc

#: a run past this is a hang (a sane pattern takes microseconds; the budget is 0.5 s a match)
DEADLINE = 30
SLOW = "^(a|aa)+$"
NEAR_MISS = "a" * 60 + "!"


def _edit(path: Path, fn: Callable[[Any], None]) -> None:
    data = json.loads(path.read_text())
    fn(data)
    path.write_text(json.dumps(data, indent=2) + "\n")


def _schema(proj: Path) -> Path:
    return tdir(proj) / "config" / "config.jsonschema"


def _config(proj: Path) -> Path:
    return tdir(proj) / "config" / "train_config.json"


def _pattern_on_architecture(proj: Path, pattern: str, value: str) -> None:
    def edit(s: dict[str, Any]) -> None:
        s["properties"]["architecture"].pop("enum", None)
        s["properties"]["architecture"]["pattern"] = pattern
    _edit(_schema(proj), edit)
    _edit(_config(proj), lambda c: c.update(architecture=value))


def _validate(proj: Path, guard: Guard, *extra: str, **kw: Any) -> Any:
    guard.start()
    r = tc("validate", "--json", *extra, str(proj), cwd=proj.parent, timeout=DEADLINE, **kw)
    guard.check()
    return r


def test_issue_example_nested_quantifier_does_not_hang(proj: Path, guard: Guard) -> None:
    _pattern_on_architecture(proj, "^(a+)+$", "a" * 40 + "!")
    r = _validate(proj, guard)
    assert_finding(r, r"config\.", r"does not match '\^\(a\+\)\+\$'", file_re="train_config.json")


def test_pattern_past_the_budget_is_a_finding(proj: Path, guard: Guard) -> None:
    _pattern_on_architecture(proj, SLOW, NEAR_MISS)
    r = _validate(proj, guard)
    assert_finding(r, r"config\.", r"took longer than 0\.5 s", file_re="train_config.json")


def test_catastrophic_default_is_a_finding(proj: Path, guard: Guard) -> None:
    def edit(s: dict[str, Any]) -> None:
        s["properties"]["architecture"].pop("enum", None)
        s["properties"]["architecture"].update(pattern=SLOW, default=NEAR_MISS)
    _edit(_schema(proj), edit)
    r = _validate(proj, guard)
    assert_finding(r, r"config\.", r"took longer than")


def test_catastrophic_pattern_properties_key(proj: Path, guard: Guard) -> None:
    _edit(_schema(proj), lambda s: s.update(patternProperties={SLOW: {"type": "integer"}}))
    _edit(_config(proj), lambda c: c.update({NEAR_MISS: 1}))
    r = _validate(proj, guard)
    assert_finding(r, r"config\.", r"took longer than")


def test_catastrophic_pattern_inside_additional_properties(proj: Path, guard: Guard) -> None:
    """additionalProperties: false matches every extra key against patternProperties."""
    _edit(_schema(proj), lambda s: s.update(patternProperties={SLOW: {}},
                                            additionalProperties=False))
    _edit(_config(proj), lambda c: c.update({NEAR_MISS: 1}))
    r = _validate(proj, guard)
    assert_finding(r, r"config\.", r"took longer than")


def test_package_with_catastrophic_pattern_refuses_in_time(proj: Path, guard: Guard) -> None:
    _pattern_on_architecture(proj, SLOW, NEAR_MISS)
    guard.start()
    r = tc("package", str(proj), cwd=proj.parent, timeout=DEADLINE)
    guard.check()
    assert_clean_failure(r, 1, r"tc validate found \d+ errors?; nothing was packaged")
    assert not (proj / "dist").exists()


# ------------------------------------------------------------------ --log


def test_log_fifo_is_refused_without_blocking(proj: Path, guard: Guard) -> None:
    fifo = proj.parent / "train.log"
    os.mkfifo(fifo)
    guard.start()
    r = tc("validate", "--log", str(fifo), str(proj), cwd=proj.parent, timeout=DEADLINE)
    guard.check()
    assert_clean_failure(r, 2, r"--log .*train\.log: not a regular file")


def test_log_dev_zero_is_refused_in_bounded_memory(proj: Path, guard: Guard) -> None:
    guard.start()
    r = tc("validate", "--log", "/dev/zero", str(proj), cwd=proj.parent, timeout=DEADLINE,
           mem_limit=1 << 30)
    guard.check()
    assert_clean_failure(r, 2, r"--log /dev/zero: not a regular file")


def test_log_over_the_size_cap_is_refused(proj: Path, guard: Guard) -> None:
    big = proj.parent / "huge.log"
    with big.open("wb") as fh:  # sparse: no disk used
        fh.truncate(100 * 1024 * 1024)
    try:
        guard.start(big)
        r = tc("validate", "--log", str(big), str(proj), cwd=proj.parent, timeout=DEADLINE,
               mem_limit=1 << 30)
        guard.check()
        assert_clean_failure(r, 2, r"--log .*huge\.log: \d+ bytes, more than the limit of 67108864")
    finally:
        big.unlink()


@pytest.mark.parametrize("pattern", ["(?P<x", "a{99999999999}"])
def test_uncompilable_schema_pattern_is_a_finding(proj: Path, guard: Guard, pattern: str) -> None:
    """(control, also right before) a broken pattern: a finding, never a traceback."""
    _pattern_on_architecture(proj, pattern, "x")
    r = _validate(proj, guard)
    assert r.rc == 1, r.stderr
    assert "Traceback" not in r.stdout + r.stderr
