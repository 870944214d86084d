"""The platform's run flags and the dataset id's pattern are written once, in
``tcli/contract.py``: no other module of tcli spells them (string or number constants outside
docstrings, read with :mod:`ast`). Builders and backends take them from the contract or from
a JobSpec."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

from tcli import contract
from tcli.job.local import docker_size

PKG = Path(__file__).resolve().parents[3] / "tcli"
#: Constants only contract.py may hold: the value, and whether a substring counts too.
FACTS: list[tuple[object, bool]] = [
    (contract.PLATFORM_SHM_SIZE, False),  # 8Gi
    (docker_size(contract.PLATFORM_SHM_SIZE), False),  # Docker's 8g
    *[(name, False) for name in sorted(contract.DROPPABLE_ULIMITS)],  # memlock
    *[(soft, False) for _, soft, _ in contract.PLATFORM_ULIMITS if soft > 1],  # the stack size
    (contract.DATASET_ID_PATTERN, True),
    (contract.IMAGE_ENTRYPOINT[0], False),
]


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def spelled_outside_contract(pkg: Path = PKG) -> list[str]:
    """``file:line value`` of every contract fact spelled in another module."""
    found = []
    for path in sorted(pkg.rglob("*.py")):
        if path.name == "contract.py" and path.parent == pkg:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _docstrings(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Constant) or id(node) in skip:
                continue
            for value, substring in FACTS:
                if type(node.value) is not type(value):
                    continue
                if node.value == value or (substring and isinstance(value, str)
                                           and isinstance(node.value, str)
                                           and value in node.value):
                    found.append(f"{path.relative_to(pkg.parent)}:{node.lineno} {value!r}")
    return found


def test_run_flags_are_spelled_only_in_the_contract() -> None:
    assert spelled_outside_contract() == []


def test_the_guard_sees_a_copy(tmp_path: Path) -> None:
    copy = tmp_path / "tcli"
    shutil.copytree(PKG, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "job" / "extra.py").write_text(
        'SHM = "8Gi"\nLIMIT = 67108864\nPATTERN = r"^[1-9][0-9]{0,17}$"\n', encoding="utf-8")
    found = spelled_outside_contract(copy)
    assert [line.split(" ", 1)[0] for line in found] == [
        "tcli/job/extra.py:1", "tcli/job/extra.py:2", "tcli/job/extra.py:3"]
