"""Every platform fact is written once, in ``tcli/contract.py`` (issue 27, item 3).

A fact written twice drifts: a second ``"8Gi"`` or ``"/train"`` is how dev-run and the
Kubeflow manifests come to disagree with the platform. This test reads every module of tcli
except contract.py with :mod:`ast` and fails on a string (or number) constant that *is* one of
the facts below, or an f-string starting with a mount path (``f"/train/{rel}"``). Prose that
mentions a fact (a docstring, a help text, a message) is not a constant equal to it and
passes; code that means the fact imports it from contract.py.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tcli import contract

PKG = Path(__file__).resolve().parent.parent / "tcli"
HOME = "tcli/contract.py"

#: The literal of each fact -> the contract name that holds it (checked below, so the list
#: cannot drift from contract.py either).
FACTS: dict[str | int, str] = {
    "[1-9][0-9]{0,17}": "DATASET_ID_PATTERN",
    "DATASET_ID": "DATASET_ID_KEY",
    "8Gi": "PLATFORM_SHM_SIZE",
    "memlock": "PLATFORM_ULIMITS",
    67108864: "PLATFORM_ULIMITS",
    "/minio": "MINIO_MOUNT",
    "/train": "TRAIN_MOUNT",
    "/workspace/.env": "CONTAINER_ENV_FILE",
    "/docker-entrypoint.sh": "IMAGE_ENTRYPOINT",
    "docker-entrypoint.sh": "ENTRYPOINT_SCRIPT",
    "train-container-publish": "PUBLISH_DIR",
    "train-container-publish.zip": "ZIP_NAME",
    "annotations.xml": "ANNOTATIONS_XML",
    ".copier-answers.yml": "ANSWERS_FILE",
    "config.jsonschema": "CONFIG_SCHEMA",
    "train_config.json": "TRAIN_CONFIG",
    "presets.json": "PRESETS",
    "custom.json": "CUSTOM_JSON",
    "score_line.txt": "SCORE_LINE",
    "export.jsonschema": "EXPORT_SCHEMA",
    "export_config.json": "EXPORT_CONFIG",
    "export.py": "EXPORT_SCRIPT",
    "model_filepath": "MODEL_FILEPATH_KEY",
    "score_name": "SCORE_NAME_KEY",
    "score_regexp": "SCORE_REGEXP_KEY",
    "train-split": "TRAIN_SPLIT_KEY",
    "test-split": "TEST_SPLIT_KEY",
    "nvcr.io/nvidia/pytorch:25.01-py3": "DEFAULT_BASE_IMAGE",
    "tc-local/pytorch:2.14.1": "LOCAL_BASE_IMAGE",
}
#: Docker's spelling of the shm size, derived from the contract's in tcli/job/local.py.
DERIVED = {"8g": "PLATFORM_SHM_SIZE"}
#: f-strings that start with one of these build a path under a platform mount.
PREFIXES = ("/train/", "/minio/")


def _holds(name: str, value: object) -> bool:
    held = getattr(contract, name)
    return held == value or (isinstance(held, tuple) and any(
        value == x or (isinstance(x, tuple) and value in x) for x in held))


def test_the_list_matches_contract() -> None:
    wrong = [f"{value!r} is not contract.{name}" for value, name in FACTS.items()
             if not _holds(name, value)]
    assert not wrong, "\n".join(wrong)


def offenders(source: str, filename: str) -> list[str]:
    facts = {**FACTS, **DERIVED}
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Constant) and not isinstance(node.value, bool) \
                and isinstance(node.value, str | int) and node.value in facts:
            found.append(f"{filename}:{node.lineno}: {node.value!r} "
                         f"(contract.{facts[node.value]})")
        elif isinstance(node, ast.JoinedStr) and node.values and isinstance(
                node.values[0], ast.Constant) and str(node.values[0].value).startswith(PREFIXES):
            found.append(f"{filename}:{node.lineno}: {ast.unparse(node)} (contract's mounts)")
    return found


def test_facts_only_in_contract() -> None:
    found: list[str] = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG.parent).as_posix()
        if rel != HOME:
            found += offenders(path.read_text(encoding="utf-8"), rel)
    assert not found, ("a platform fact written outside tcli/contract.py; import it from "
                       "there:\n" + "\n".join(found))


@pytest.mark.parametrize(("source", "bad"), [
    ('SHM = "8Gi"', True),
    ('if key == "DATASET_ID": pass', True),
    ("STACK = 67108864", True),
    ('path = f"/train/{rel}"', True),
    ('fields = ("model_filepath", "score_name", "score_regexp")', True),
    ('"""Reads custom.json and score_regexp."""', False),
    ('msg = "custom.json: field score_regexp is missing"', False),
    ("from tcli.contract import TRAIN_MOUNT\npath = f'{TRAIN_MOUNT}/{rel}'", False),
])
def test_the_scan_sees_a_fact(source: str, bad: bool) -> None:
    assert bool(offenders(source, "x.py")) is bad
