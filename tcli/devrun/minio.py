"""The mock MinIO ``<project>/.tc/minio/datasets/<id>/``: linked, demo or already there.

Samples are never copied: hard links when the dataset is on the project's file system,
otherwise symlinks into a read-only mount of it (``/tc-sources/<id>``).

tc replaces ``datasets/<id>`` only when everything in it is what tc made there (the content
manifest of :mod:`tcli.safety.made`): a user's own dataset in that folder is refused with one
line, never deleted. Every path is inside the project (:meth:`Project.tc_path`): a ``.tc`` or
``.tc/minio`` that is a symlink leading out of the project is refused.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tcli.contract import ANNOTATIONS_XML, ANSWERS_FILE
from tcli.devrun.options import DevRunOptions
from tcli.errors import InputError
from tcli.project import Project, TemplateRef
from tcli.safety import made


@dataclass
class DatasetLayout:
    """``<project>/.tc/minio/datasets/<id>/`` as prepared for a run."""

    dataset_id: int
    path: Path
    samples: int
    mode: str  # "hardlink", "symlink", "demo", "existing"; "import" (a --dry-run's plan only)
    #: read-only host folders the samples' symlinks point into: host folder -> mount point
    volumes: dict[str, dict[str, str]] = field(default_factory=dict)
    #: the source's format when ``--dataset`` was not CVAT and was imported (tcli.datasets)
    imported_from: str | None = None


def minio_root(project: Project) -> Path:
    return project.tc_path("minio")


def train_root(project: Project) -> Path:
    return project.tc_path("train")


def dataset_folder(project: Project, dataset_id: int) -> Path:
    """``<project>/.tc/minio/datasets/<id>``, confined to the project."""
    return project.tc_path("minio", "datasets", str(dataset_id))


def _fix(dataset_id: int) -> str:
    return (f"move your own dataset out of .tc/minio/datasets/{dataset_id} and pass it with "
            "--dataset DIR (or leave --demo/--dataset out to use it as it is), "
            "or pick another --dataset-id")


def check_target(project: Project, opts: DevRunOptions, dataset_id: int) -> None:
    """Refuse, before any Docker work, a dataset folder ``--demo``/``--dataset`` would have to
    replace that holds something tc did not make (see :mod:`tcli.safety.made`)."""
    target = dataset_folder(project, dataset_id)
    if opts.demo or opts.dataset is not None:
        if opts.dataset is not None:
            source = opts.dataset.expanduser().resolve()
            if source == target.resolve() or target.resolve() in source.parents:
                return  # the dataset already there, used in place
        other = made.foreign(target) if target.is_dir() and not target.is_symlink() else None
        if target.is_symlink() or (target.exists() and not target.is_dir()) or other is not None:
            made.clear(target, fix=_fix(dataset_id))  # raises NotMadeByTc naming the file


def _annotations_of(source: Path) -> Path:
    for candidate in (source / "annotations" / ANNOTATIONS_XML, source / ANNOTATIONS_XML):
        if candidate.is_file():
            return candidate
    raise InputError(
        f"--dataset {source}: no annotations/annotations.xml (CVAT for images 1.1) in it",
        "export the task or project from CVAT as 'CVAT for images 1.1' and put the "
        "annotations.xml into DIR/annotations/",
    )


def _samples_of(source: Path, annotations: Path) -> list[Path]:
    return sorted(
        p for p in source.iterdir()
        if p.is_file() and not p.name.startswith(".") and p != annotations
    )


def link_dataset(
    project: Project, source: Path, dataset_id: int, *, mode: str = "auto"
) -> DatasetLayout:
    """Lay out dataset ``dataset_id`` of the mock MinIO from ``source`` without copying samples.

    ``mode`` ``auto`` uses hard links when ``source`` is on the same file system as the project,
    otherwise ``symlink``: links to ``/tc-sources/<id>/…``, where ``source`` is mounted read-only.
    """
    source = source.expanduser().resolve()
    if not source.is_dir():
        raise InputError(f"--dataset {source}: no such folder")
    target = dataset_folder(project, dataset_id)
    if source == target.resolve() or target.resolve() in source.parents:
        annotations = _annotations_of(source)
        return DatasetLayout(dataset_id, target, len(_samples_of(source, annotations)), "existing")
    annotations = _annotations_of(source)
    samples = _samples_of(source, annotations)
    if not samples:
        raise InputError(f"--dataset {source}: no sample files next to the annotations")
    if mode == "auto":
        target.parent.mkdir(parents=True, exist_ok=True)
        mode = "hardlink" if os.stat(source).st_dev == os.stat(target.parent).st_dev else "symlink"
    if mode not in ("hardlink", "symlink"):
        raise ValueError(f"unknown link mode {mode!r}")
    made.clear(target, fix=_fix(dataset_id))
    (target / "annotations").mkdir(parents=True)
    ann_rel = f"annotations/{ANNOTATIONS_XML}"
    shutil.copyfile(annotations, target / ann_rel)
    entries = {ann_rel: made.entry_of(target / ann_rel)}
    volumes: dict[str, dict[str, str]] = {}
    if mode == "hardlink":
        for sample in samples:
            os.link(sample, target / sample.name)
            entries[sample.name] = made.entry_of(target / sample.name, hardlink=True)
    else:
        mount = f"/tc-sources/{dataset_id}"
        volumes[str(source)] = {"bind": mount, "mode": "ro"}
        for sample in samples:
            os.symlink(f"{mount}/{sample.name}", target / sample.name)
            entries[sample.name] = made.entry_of(target / sample.name)
    made.write(target, entries, what=f"dev-run --dataset {source}")
    return DatasetLayout(dataset_id, target, len(samples), mode, volumes)


def demo_dataset(
    project: Project, task: str, dataset_id: int, images: int | None = None
) -> DatasetLayout:
    """Write the synthetic demo dataset as dataset ``dataset_id`` of the mock MinIO."""
    from tcli.datasets.demo import write_demo_dataset

    target = dataset_folder(project, dataset_id)
    made.clear(target, fix=_fix(dataset_id))
    kwargs: dict[str, Any] = {"seed": dataset_id, "dataset_id": dataset_id}
    if images is not None:
        kwargs["images"] = images
    path = write_demo_dataset(minio_root(project), task, **kwargs)
    samples = sum(1 for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    return DatasetLayout(dataset_id, path, samples, "demo")


def existing_dataset(project: Project, dataset_id: int) -> DatasetLayout:
    """Dataset ``dataset_id`` already present in the mock MinIO (InputError when absent)."""
    target = dataset_folder(project, dataset_id)
    annotations = target / "annotations" / ANNOTATIONS_XML
    if not annotations.is_file():
        raise InputError(
            f"no dataset {dataset_id} in {minio_root(project)}/datasets",
            "pass --dataset DIR (samples + annotations/annotations.xml) or --demo",
        )
    return DatasetLayout(dataset_id, target, len(_samples_of(target, annotations)), "existing")


def template_task(project: Project, template: TemplateRef) -> str:
    """The demo-data task of a template (from ``.copier-answers.yml``, else its category)."""
    from tcli.datasets.demo import resolve_task

    answers = project.root / ANSWERS_FILE
    if answers.is_file():
        import yaml

        data = yaml.safe_load(answers.read_text(encoding="utf-8")) or {}
        if isinstance(data, dict) and data.get("template"):
            same = all(
                data.get(k) in (None, v)
                for k, v in (
                    ("provider", template.provider),
                    ("category", template.category),
                    ("architecture", template.architecture),
                )
            )
            if same:
                return resolve_task(str(data["template"]))
    try:
        return resolve_task(template.category)
    except InputError:
        raise InputError(
            f"cannot tell which demo data fits template {template.key}",
            "pass --dataset DIR with your own CVAT dataset instead of --demo",
        ) from None


def platform_source(project: Project, source: Path) -> tuple[Path, str | None]:
    """(folder to link, format imported from). ``source`` itself when it is a CVAT dataset with
    its samples beside the annotations; any other format (COCO, YOLO, VOC, ImageFolder, a CVAT
    export with an images/ folder) is imported once into ``<project>/.tc/imports/<content
    key>/datasets/1`` and reused while the source is unchanged (see docs/datasets.md)."""
    src = source.expanduser()
    if not src.exists() or not src.is_dir():
        return src, None  # link_dataset says "no such folder" / "not a folder"
    if src.is_dir():
        try:
            if _samples_of(src, _annotations_of(src)):
                return src, None
        except InputError:
            pass
    from tcli.datasets.importer import MAPPING, ensure_platform_layout

    target = ensure_platform_layout(src, project.tc_dir / "imports")
    if target == src.resolve():
        return src, None
    import json

    fmt = json.loads((target / "annotations" / MAPPING).read_text(encoding="utf-8"))["format"]
    return target, str(fmt)


def prepare_dataset(
    project: Project, template: TemplateRef, opts: DevRunOptions, dataset_id: int
) -> DatasetLayout:
    if opts.dataset is not None:
        source, fmt = platform_source(project, opts.dataset)
        layout = link_dataset(project, source, dataset_id)
        layout.imported_from = fmt
        return layout
    if opts.demo:
        return demo_dataset(project, template_task(project, template), dataset_id, opts.demo_images)
    return existing_dataset(project, dataset_id)


def plan_dataset(
    project: Project, template: TemplateRef, opts: DevRunOptions, dataset_id: int
) -> DatasetLayout:
    """What :func:`prepare_dataset` would lay out, found without writing anything
    (``--dry-run``); the same InputErrors for a missing folder or dataset."""
    target = minio_root(project) / "datasets" / str(dataset_id)
    if opts.dataset is not None:
        source = opts.dataset.expanduser().resolve()
        if not source.is_dir():
            raise InputError(f"--dataset {source}: no such folder")
        try:
            samples = _samples_of(source, _annotations_of(source))
        except InputError:
            samples = []
        if not samples:  # another format: imported into .tc/imports, then hard-linked
            return DatasetLayout(dataset_id, target, 0, "import")
        if source == target.resolve() or target.resolve() in source.parents:
            return DatasetLayout(dataset_id, target, len(samples), "existing")
        here = next(p for p in (target, *target.parents) if p.exists())
        if os.stat(source).st_dev == os.stat(here).st_dev:
            return DatasetLayout(dataset_id, target, len(samples), "hardlink")
        return DatasetLayout(dataset_id, target, len(samples), "symlink",
                             {str(source): {"bind": f"/tc-sources/{dataset_id}", "mode": "ro"}})
    if opts.demo:
        from tcli.datasets.demo import DEFAULT_IMAGES, resolve_task

        task = template_task(project, template)
        images = opts.demo_images or DEFAULT_IMAGES.get(resolve_task(task), 0)
        return DatasetLayout(dataset_id, target, images, "demo")
    return existing_dataset(project, dataset_id)


def describe(project: Project, layout: DatasetLayout) -> str:
    """One line saying where the dataset is and how it got there."""
    how = {
        "hardlink": "hard links",
        "symlink": "symlinks into a read-only mount",
        "demo": "synthetic demo data",
        "existing": "already in place",
        "import": "imported from another format, cached in .tc/imports",
    }[layout.mode]
    rel = os.path.relpath(layout.path, project.root)
    if layout.mode == "import":
        return f"dataset {layout.dataset_id}: {how}, then hard-linked into {rel}"
    line = f"dataset {layout.dataset_id}: {layout.samples} samples ({how}) in {rel}"
    if layout.imported_from:
        line += f", imported from {layout.imported_from} (cached in .tc/imports)"
    return line
