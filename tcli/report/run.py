"""Find what one ``tc dev-run`` left behind and reload it (no Typer, no Rich, no Docker).

``tc dev-run`` lays a project's run out as::

    <project>/.tc/minio/datasets/<id>/         the raw dataset (samples + annotations/annotations.xml)
    <project>/.tc/train/                       /train of the container: the model file named by
                                               custom.json's model_filepath, metrics.json,
                                               metrics.jsonl (docs/report.md)
    <project>/.tc/report/run.json              the dev-run summary (timings), when dev-run wrote it

The container's ``/datasets`` (the split the template trained on) is not kept on the host, so
:func:`val_split` reproduces it: it runs the project's own ``common/dataset.py`` (the code the
container ran) into a temporary folder with the same split ratios and seed.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from tcli.errors import InputError
from tcli.project import Project, TemplateRef

TASKS = ("classification", "detection", "segmentation", "sklearn")


@dataclass
class Run:
    """The files of one run and what tc knows about it."""

    project: Project
    template: TemplateRef
    task: str
    train_dir: Path
    model: Path | None
    config: dict[str, Any]
    epochs: list[dict[str, Any]] = field(default_factory=list)
    final: dict[str, Any] | None = None
    metrics_json: dict[str, Any] | None = None
    summary: dict[str, Any] | None = None
    dataset_id: int | None = None
    notes: list[str] = field(default_factory=list)


def _json_file(path: Path, notes: list[str]) -> Any:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        notes.append(f"{path.name}: unreadable ({exc}); ignored")
        return None


def read_metrics_log(path: Path, notes: list[str]) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The ``epoch`` records (sorted by epoch, last one of a number wins) and the ``final`` one."""
    epochs: dict[int, dict[str, Any]] = {}
    final: dict[str, Any] | None = None
    if not path.is_file():
        return [], None
    bad = 0
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                bad += 1
                continue
            if not isinstance(rec, dict):
                bad += 1
            elif rec.get("kind") == "epoch" and isinstance(rec.get("epoch"), int):
                epochs[rec["epoch"]] = rec
            elif rec.get("kind") == "final":
                final = rec
    if bad:
        notes.append(f"{path.name}: {bad} line{'s' if bad != 1 else ''} not a JSON object; skipped")
    return [epochs[k] for k in sorted(epochs)], final


def task_of(project: Project, ref: TemplateRef) -> str:
    answers = project.root / ".copier-answers.yml"
    if answers.is_file():
        import yaml

        try:
            data = yaml.safe_load(answers.read_text(encoding="utf-8"))
        except yaml.YAMLError:
            data = None
        if isinstance(data, dict) and data.get("template") in TASKS:
            return str(data["template"])
    category = ref.category.lower()
    for task in TASKS:
        if task in category:
            return task
    return "sklearn" if "scikit" in ref.provider.lower() else "classification"


def host_path(project: Project, container_path: str) -> Path | None:
    """Where a ``/train/...`` path of the container lies on the host, or None."""
    if container_path == "/train" or container_path.startswith("/train/"):
        rel = container_path[len("/train"):].lstrip("/")
        path = (project.tc_dir / "train" / rel).resolve()
        if path.is_relative_to((project.tc_dir / "train").resolve()):
            return path
    return None


def load_run(path: Path, template: str | None = None, summary: dict[str, Any] | None = None,
             dataset_id: int | None = None) -> Run:
    """Everything ``tc report`` reads for one template (InputError when not a project)."""
    project = Project.load(path)
    ref = project.select(template)
    notes: list[str] = []
    train_dir = project.tc_dir / "train"
    custom = _json_file(ref.config_dir / "custom.json", notes) or {}
    model_fp = custom.get("model_filepath") if isinstance(custom, dict) else None
    model = host_path(project, model_fp) if isinstance(model_fp, str) else None
    if isinstance(model_fp, str) and model is None:
        notes.append(f"custom.json model_filepath {model_fp!r} is not under /train; no model to load")
    config = _json_file(ref.config_dir / "train_config.json", notes)
    config = config if isinstance(config, dict) else {}
    saved = summary if summary is not None else _json_file(project.tc_dir / "report" / "run.json", notes)
    saved = saved if isinstance(saved, dict) and saved.get("template") in (None, ref.key) else None
    epochs, final = read_metrics_log(train_dir / "metrics.jsonl", notes)
    mj = _json_file(train_dir / "metrics.json", notes)
    if dataset_id is None and saved is not None and isinstance(saved.get("dataset_id"), int):
        dataset_id = saved["dataset_id"]
    if dataset_id is None:
        root = project.tc_dir / "minio" / "datasets"
        ids = sorted(int(p.name) for p in root.iterdir() if p.name.isdigit()) if root.is_dir() else []
        dataset_id = 1 if 1 in ids or not ids else ids[0]
    return Run(project, ref, task_of(project, ref), train_dir, model, config, epochs, final,
               mj if isinstance(mj, dict) else None, saved, dataset_id, notes)


# --------------------------------------------------------------------------- the val split


@contextlib.contextmanager
def _project_module(project: Project) -> Iterator[ModuleType]:
    """The project's ``common/dataset.py`` (with its ``datasets/cvat_dataset.py``)."""
    common, datasets = project.root / "common", project.root / "datasets"
    path = common / "dataset.py"
    if not path.is_file():
        raise InputError(f"{path}: missing", "restore it with 'tc update'")
    saved_path, saved_cvat = list(sys.path), sys.modules.pop("cvat_dataset", None)
    sys.path[:0] = [str(common), str(datasets)]
    try:
        spec = importlib.util.spec_from_file_location("tc_report_dataset", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path[:] = saved_path
        sys.modules.pop("cvat_dataset", None)
        if saved_cvat is not None:
            sys.modules["cvat_dataset"] = saved_cvat


def _split_seed(ref: TemplateRef) -> int:
    env = ref.docker_dir / ".env"
    seed = os.environ.get("SPLIT_SEED") or "42"
    if env.is_file():
        for line in env.read_text(encoding="utf-8", errors="replace").splitlines():
            key, sep, value = line.strip().partition("=")
            if sep and key.strip() == "SPLIT_SEED" and value.strip().isdigit():
                seed = value.strip()
    return int(seed)


@dataclass
class ValSplit:
    """The reproduced val split: COCO dict and the folder its images are in."""

    coco: dict[str, Any]
    images_dir: Path
    seed: int


@contextlib.contextmanager
def val_split(run: Run) -> Iterator[ValSplit | None]:
    """Reproduce the run's val split in a temporary folder (None when there is no dataset)."""
    if run.dataset_id is None:
        yield None
        return
    minio = run.project.tc_dir / "minio"
    if not (minio / "datasets" / str(run.dataset_id) / "annotations" / "annotations.xml").is_file():
        run.notes.append(f"no dataset {run.dataset_id} in {minio}/datasets: no validation images")
        yield None
        return
    work_root = run.project.tc_dir / "report"
    work_root.mkdir(parents=True, exist_ok=True)
    seed = _split_seed(run.template)
    with tempfile.TemporaryDirectory(prefix=".split-", dir=work_root) as tmp, \
            _project_module(run.project) as dataset:
        try:
            dataset.prepare("sklearn" if run.task == "sklearn" else run.task, run.config,
                            dataset_id=str(run.dataset_id), minio=minio, datasets=Path(tmp),
                            formats=["coco"], seed=seed, log=lambda _m: None)
        except Exception as exc:  # the project's dataset code: report, do not crash
            run.notes.append(f"the dataset stage failed on dataset {run.dataset_id}: {exc}")
            yield None
            return
        labels = Path(tmp) / "labels" / "val" / "labels.json"
        if not labels.is_file():
            run.notes.append("the dataset stage wrote no val split")
            yield None
            return
        coco = json.loads(labels.read_text(encoding="utf-8"))
        yield ValSplit(coco, Path(tmp) / "images" / "val", seed)
