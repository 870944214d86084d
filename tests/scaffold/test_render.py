"""Every template renders the platform's full tree, and its files agree with each other."""

from __future__ import annotations

import ast
import json
import py_compile
from pathlib import Path

import pytest
import yaml

from tcli.contract import SETUP_KEYS
from tests.conftest import KEY
from tests.scaffold.conftest import TEMPLATES

RESERVED = set(SETUP_KEYS)  # consumed by setup.py, never passed to train.py

EXPECTED = [
    ".copier-answers.yml", ".gitignore", ".dockerignore", "README.md",
    "common/config.py", "common/config_to_args.py", "common/dataset.py",
    "common/dataset_base.py", "common/dataset_coco.py", "common/dataset_files.py",
    "common/dataset_labels.py", "common/dataset_link_worker.py", "common/dataset_split.py",
    "common/dataset_trash_worker.py",
    "common/docker-entrypoint.sh", "common/failure.py", "common/mount-s3.sh",
    "common/sts_credentials.py", "common/torchrun_launcher.py",
    "datasets/cvat_dataset.py", "datasets/cvat_masks.py", "datasets/cvat_model.py",
    "datasets/cvat_parallel.py", "datasets/cvat_xml.py", "datasets/cvat_xmlsafe.py",
    "export/export.py", "export/export.jsonschema", "export/export_config.json",
    "validation/common.json", "validation/template.json",
    "{t}/config/config.jsonschema", "{t}/config/custom.json", "{t}/config/presets.json",
    "{t}/config/train_config.json",
    "{t}/docker/Dockerfile", "{t}/docker/args.py", "{t}/docker/requirements.txt",
    "{t}/docker/setup.py", "{t}/docker/train.py", "{t}/docker/.env",
]


def _tdir(template: str) -> str:
    return f"templates/{KEY}"


def argparse_options(args_py: Path) -> set[str]:
    """Long options declared by add_argument calls (read with ast, never imported)."""
    opts: set[str] = set()
    for node in ast.walk(ast.parse(args_py.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_argument":
            for arg in node.args:
                if isinstance(arg, ast.Constant) and str(arg.value).startswith("--"):
                    opts.add(str(arg.value)[2:])
    return opts


@pytest.mark.parametrize("template", TEMPLATES)
def test_full_tree(rendered: dict[str, Path], template: str) -> None:
    root = rendered[template]
    for rel in EXPECTED:
        path = root / rel.format(t=_tdir(template))
        assert path.is_file(), f"{template}: missing {path.relative_to(root)}"


@pytest.mark.parametrize("template", TEMPLATES)
def test_answers_file(rendered: dict[str, Path], template: str) -> None:
    answers = yaml.safe_load((rendered[template] / ".copier-answers.yml").read_text())
    assert answers["template"] == template
    assert answers["provider"] == "Prov"
    assert answers["architecture"] == "Arch"
    assert answers["_commit"].startswith("0.")
    assert Path(answers["_src_path"]).is_dir()


@pytest.mark.parametrize("template", TEMPLATES)
def test_ignore_files_exclude_dev_data(rendered: dict[str, Path], template: str) -> None:
    for name in (".gitignore", ".dockerignore"):
        lines = {ln.strip().strip("/") for ln in (rendered[template] / name).read_text().splitlines()}
        assert {"minio", "train"} <= lines, name


@pytest.mark.parametrize("template", TEMPLATES)
def test_args_accept_every_config_key(rendered: dict[str, Path], template: str) -> None:
    cfg = rendered[template] / _tdir(template) / "config"
    keys = set(json.loads((cfg / "presets.json").read_text()))
    keys |= set(json.loads((cfg / "config.jsonschema").read_text())["properties"])
    keys |= set(json.loads((cfg / "train_config.json").read_text()))
    options = argparse_options(rendered[template] / _tdir(template) / "docker" / "args.py")
    missing = sorted(keys - RESERVED - options)
    assert not missing, f"{template}: args.py lacks --{', --'.join(missing)}"


@pytest.mark.parametrize("template", TEMPLATES)
def test_json_files_parse_and_python_compiles(rendered: dict[str, Path], template: str) -> None:
    root = rendered[template]
    for path in root.rglob("*"):
        if ".git" in path.parts or not path.is_file():
            continue
        if path.suffix in {".json", ".jsonschema"}:
            json.loads(path.read_text())
        elif path.suffix == ".py":
            py_compile.compile(str(path), doraise=True, cfile=str(path) + "c.tmp")
            Path(str(path) + "c.tmp").unlink()


@pytest.mark.parametrize("template", TEMPLATES)
def test_shared_runtime_rendered_verbatim(rendered: dict[str, Path], template: str) -> None:
    """Shared runtime files exist once in scaffolds/ and are copied byte for byte; the
    verified exporter reaches docker/ as tc_export.py."""
    from tests.conftest import SCAFFOLDS

    root = rendered[template]
    for rel in ("common/config.py", "common/docker-entrypoint.sh", "datasets/cvat_dataset.py",
                "export/export.py"):
        assert (root / rel).read_bytes() == (SCAFFOLDS / "project" / rel).read_bytes(), rel
    exporter = root / _tdir(template) / "docker" / "tc_export.py"
    assert exporter.read_bytes() == (SCAFFOLDS / "project/export/export.py").read_bytes()


def test_variant_and_runtime_files_are_jinja_neutral() -> None:
    """They go through Jinja includes: any Jinja syntax would be silently rewritten."""
    from tests.conftest import SCAFFOLDS

    offenders = []
    roots = [SCAFFOLDS / "variants", SCAFFOLDS / "project" / "common",
             SCAFFOLDS / "project" / "datasets", SCAFFOLDS / "project" / "export"]
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and path.suffix != ".jinja" and "__pycache__" not in path.parts:
                text = path.read_text(errors="replace")
                if any(tok in text for tok in ("{{", "{%", "{#")):
                    offenders.append(str(path.relative_to(SCAFFOLDS)))
    assert not offenders


def test_dockerfile_has_base_image_arg_and_deps_layer_first(rendered: dict[str, Path]) -> None:
    text = (rendered["classification"] / _tdir("classification") / "docker" / "Dockerfile").read_text()
    assert "ARG BASE_IMAGE=nvcr.io/nvidia/pytorch:" in text
    assert text.index("pip install") < text.index("COPY *.py")
    assert 'ENTRYPOINT ["/docker-entrypoint.sh"]' in text
