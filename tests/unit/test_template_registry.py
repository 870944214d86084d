"""The template registry (tcli/contract.py TEMPLATES) is the one list of templates: it agrees
with scaffolds/copier.yml (choices, labels, the P/C/A defaults), with the variant folders the
templates tree includes, with the in-image runtime's TASKS, and with the base-image flavor each
template's docker/ folder needs. A template added in one place and not the others fails here.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml

from tcli.baseimage import FLAVORS, flavor_for_docker_dir
from tcli.contract import DATASET_TASKS, TASK_ALIASES, TEMPLATE_NAMES, TEMPLATES, TemplateEntry
from tcli.datasets.demo import TASK_SHAPES
from tests.conftest import SCAFFOLDS

VARIANTS = SCAFFOLDS / "variants"
TREE = SCAFFOLDS / "project" / "templates"
#: shared by the torch templates (tc_torch.py), not a template of its own
SHARED_VARIANTS = {"torch_common"}
INCLUDE = re.compile(r'\{%\s*include\s+"variants/"\s*~\s*template\s*~\s*"(?P<rel>[^"]+)"\s*%\}')


def _copier() -> dict[str, Any]:
    data = yaml.safe_load((SCAFFOLDS / "copier.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _render(text: str, **answers: str) -> str:
    return jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(text).render(**answers)


def test_names_are_unique_and_the_first_is_copiers_default() -> None:
    assert len(set(TEMPLATE_NAMES)) == len(TEMPLATE_NAMES) == len(TEMPLATES)
    assert _copier()["template"]["default"] == TEMPLATE_NAMES[0]


def test_copier_choices_are_the_registry_in_its_order() -> None:
    choices = _copier()["template"]["choices"]
    assert list(choices.items()) == [(t.choice, t.name) for t in TEMPLATES]


@pytest.mark.parametrize("entry", TEMPLATES, ids=TEMPLATE_NAMES)
def test_copier_folder_defaults_are_the_registrys(entry: TemplateEntry) -> None:
    copier = _copier()
    for field in ("provider", "category", "architecture"):
        default = _render(str(copier[field]["default"]), template=entry.name)
        assert default == getattr(entry, field), f"copier.yml {field} default for {entry.name}"


def test_variant_folders_are_the_registry() -> None:
    folders = {p.name for p in VARIANTS.iterdir() if p.is_dir()} - SHARED_VARIANTS
    assert folders == set(TEMPLATE_NAMES)
    for name in TEMPLATE_NAMES:
        assert (VARIANTS / name / "config").is_dir() and (VARIANTS / name / "docker").is_dir(), name


def test_the_templates_tree_includes_every_templates_files_by_variable() -> None:
    """templates/{{provider}}/{{category}}/{{architecture}}/ is one tree for every template:
    each include names ``template``, never a template, and finds its file for every name."""
    chains = [p.relative_to(TREE).as_posix() for p in TREE.glob("*/*/*") if p.is_dir()]
    assert chains == ["{{provider}}/{{category}}/{{architecture}}"]
    includes = 0
    for path in sorted(p for p in TREE.rglob("*") if p.is_file()):
        text = path.read_text(encoding="utf-8")
        for name in TEMPLATE_NAMES:
            assert f"variants/{name}/" not in text, f"{path}: names the template {name}"
        for match in INCLUDE.finditer(text):
            includes += 1
            for name in TEMPLATE_NAMES:
                assert (VARIANTS / name / match["rel"].lstrip("/")).is_file(), f"{name}: {match['rel']}"
    assert includes >= 8  # config/*.jinja and train.py, args.py, requirements.txt


@pytest.mark.parametrize("entry", TEMPLATES, ids=TEMPLATE_NAMES)
def test_flavor_is_what_the_templates_docker_folder_needs(entry: TemplateEntry) -> None:
    assert entry.flavor in FLAVORS
    assert flavor_for_docker_dir(VARIANTS / entry.name / "docker").name == entry.flavor
    assert entry.name in FLAVORS[entry.flavor].templates
    # tc_torch.py (data-parallel under torchrun) is rendered for the torch templates only
    (docker,) = [p for p in TREE.rglob("docker") if p.is_dir()]
    (torch_file,) = [p.name for p in docker.iterdir() if "tc_torch.py" in p.name]
    rendered = _render(torch_file.removesuffix(".jinja"), template=entry.name)
    assert (rendered == "tc_torch.py") == (entry.flavor == "torch"), torch_file


def _runtime_tasks() -> list[tuple[str, tuple[str, ...]]]:
    """Every module-level ``TASKS = (...)`` of the in-image runtime (it cannot import tc)."""
    found = []
    for path in sorted((SCAFFOLDS / "project").glob("*/*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(isinstance(t, ast.Name) and t.id == "TASKS" for t in targets):
                    assert node.value is not None
                    found.append((path.name, tuple(ast.literal_eval(node.value))))
    return found


def test_the_runtimes_tasks_are_the_template_names() -> None:
    """setup.py passes TASK = "{{ template }}" to dataset.prepare, which checks it."""
    found = _runtime_tasks()
    assert found, "no TASKS in the in-image runtime"
    for name, tasks in found:
        assert tasks == TEMPLATE_NAMES, name
    setup = next(TREE.rglob("setup.py.jinja")).read_text(encoding="utf-8")
    assert 'TASK = "{{ template }}"' in setup


def test_dataset_tasks_and_aliases() -> None:
    assert set(DATASET_TASKS) == set(TASK_SHAPES)
    for entry in TEMPLATES:
        assert entry.dataset_task in DATASET_TASKS
        assert TASK_ALIASES.get(entry.name, entry.name) == entry.dataset_task


def test_no_other_list_of_the_templates_in_tcli() -> None:
    """The names are written once: no tuple/list/set literal in tcli/ holds three of them (a
    pair such as ``task in ("classification", "sklearn")`` is a behaviour, not the list)."""
    names = set(TEMPLATE_NAMES)
    pkg = Path(__file__).resolve().parents[2] / "tcli"
    offenders = []
    for path in sorted(pkg.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Tuple | ast.List | ast.Set):
                values = {e.value for e in node.elts if isinstance(e, ast.Constant)}
                if len(values & names) >= 3 and path.name != "contract.py":
                    offenders.append(f"{path.relative_to(pkg.parent)}:{node.lineno}")
    assert not offenders, "a list of templates outside tcli/contract.py: " + ", ".join(offenders)
