"""Find what one ``tc dev-run`` left behind and reload it (no Typer, no Rich, no Docker).

``tc dev-run`` lays a project's run out as::

    <project>/.tc/minio/datasets/<id>/         the raw dataset (samples + annotations/annotations.xml)
    <project>/.tc/train/                       /train of the container: the model file named by
                                               custom.json's model_filepath, metrics.json,
                                               metrics.jsonl (docs/report.md)
    <project>/.tc/report/run.json              the dev-run summary (timings), when dev-run wrote it

The container's ``/datasets`` is not kept on the host; the dataset stage in the image writes
the val split it used as ``/train/split.json`` (``common/dataset.py`` write_report_split), and
:func:`val_split` reads that file as untrusted data (size and depth caps, shape checked, image
names confined to the dataset folder). No project code ever runs on the host.

``metrics.jsonl`` is streamed with a per-line cap and a total cap (:data:`MAX_METRICS_LINE`,
:data:`MAX_METRICS_BYTES`); a file over them ends in one InputError line (exit 2).
"""

from __future__ import annotations

import contextlib
import json
import math
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tcli.contract import (
    ANSWERS_FILE,
    CUSTOM_JSON,
    MODEL_FILEPATH_KEY,
    TEMPLATE_NAMES,
    TRAIN_CONFIG,
    TRAIN_MOUNT,
)
from tcli.errors import InputError
from tcli.project import Project, TemplateRef
from tcli.safety import jsonload, limits
from tcli.safety.confine import is_inside

TASKS = TEMPLATE_NAMES  # a template's in-image TASK is its name


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


#: largest metrics.jsonl read, and its longest line (a record is a few hundred bytes)
MAX_METRICS_BYTES = 64 * 1024 * 1024
MAX_METRICS_LINE = 1024 * 1024
#: largest metrics.json / run.json / custom.json / train_config.json read
MAX_JSON_BYTES = jsonload.DEFAULT_MAX_BYTES


def parse_lenient(raw: bytes, name: str) -> Any:
    """JSON a container wrote: depth-capped; NaN/Infinity (a diverged loss) become None."""
    depth = jsonload.nesting_depth(raw)
    if depth > jsonload.DEFAULT_MAX_DEPTH:
        raise jsonload.JsonRefused(f"{name}: nested {depth} levels deep, more than "
                                   f"{jsonload.DEFAULT_MAX_DEPTH}", "flatten the structure")

    def num(text: str) -> float | None:
        v = float(text)
        return v if math.isfinite(v) else None
    try:
        return json.loads(raw.decode("utf-8", errors="replace"), parse_constant=lambda _w: None,
                          parse_float=num)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise jsonload.JsonRefused(f"{name}: not JSON ({exc.__class__.__name__})",
                                   "fix the file") from None


def _json_file(path: Path, notes: list[str]) -> Any:
    if not path.is_file() and not path.is_symlink():
        return None
    try:
        return parse_lenient(limits.read_bytes(path, max_bytes=MAX_JSON_BYTES, what=path.name),
                              path.name)
    except InputError as exc:
        notes.append(f"{exc.message}; ignored")
        return None


def read_metrics_log(path: Path, notes: list[str]) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The ``epoch`` records (sorted by epoch, last one of a number wins) and the ``final`` one.

    Streamed: a line over :data:`MAX_METRICS_LINE` or a file over :data:`MAX_METRICS_BYTES`
    is an InputError (exit 2); memory stays bounded whatever the file holds."""
    epochs: dict[int, dict[str, Any]] = {}
    final: dict[str, Any] | None = None
    if not path.is_file() and not path.is_symlink():
        return [], None
    fix = "metrics.jsonl holds one short JSON object per line (docs/report.md)"
    bad = total = n = 0
    with limits.open_regular(path, max_bytes=MAX_METRICS_BYTES, what=str(path)) as fh:
        while True:
            line = fh.readline(MAX_METRICS_LINE + 1)
            if not line:
                break
            n += 1
            total += len(line)
            if len(line) > MAX_METRICS_LINE:
                raise limits.TooLarge(f"{path} line {n}: longer than {MAX_METRICS_LINE} bytes", fix)
            if total > MAX_METRICS_BYTES:
                raise limits.TooLarge(f"{path}: more than {MAX_METRICS_BYTES} bytes", fix)
            if not line.strip():
                continue
            try:
                rec = parse_lenient(line, path.name)
            except InputError:
                bad += 1
                continue
            if not isinstance(rec, dict):
                bad += 1
            elif rec.get("kind") == "epoch" and isinstance(rec.get("epoch"), int) \
                    and not isinstance(rec.get("epoch"), bool):
                epochs[rec["epoch"]] = rec
            elif rec.get("kind") == "final":
                final = rec
    if bad:
        notes.append(f"{path.name}: {bad} line{'s' if bad != 1 else ''} not a JSON object; skipped")
    return [epochs[k] for k in sorted(epochs)], final


def task_of(project: Project, ref: TemplateRef) -> str:
    answers = project.root / ANSWERS_FILE
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
    if container_path == TRAIN_MOUNT or container_path.startswith(f"{TRAIN_MOUNT}/"):
        rel = container_path[len(TRAIN_MOUNT):].lstrip("/")
        path = (project.tc_dir / "train" / rel).resolve()
        if is_inside(path, project.tc_dir / "train"):
            return path
    return None


def load_run(path: Path, template: str | None = None, summary: dict[str, Any] | None = None,
             dataset_id: int | None = None) -> Run:
    """Everything ``tc report`` reads for one template (InputError when not a project)."""
    project = Project.load(path)
    ref = project.select(template)
    notes: list[str] = []
    train_dir = project.tc_dir / "train"
    custom = _json_file(ref.config_dir / CUSTOM_JSON, notes) or {}
    model_fp = custom.get(MODEL_FILEPATH_KEY) if isinstance(custom, dict) else None
    model = host_path(project, model_fp) if isinstance(model_fp, str) else None
    if isinstance(model_fp, str) and model is None:
        notes.append(f"custom.json model_filepath {model_fp!r} is not under /train; no model to load")
    config = _json_file(ref.config_dir / TRAIN_CONFIG, notes)
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

#: the split file the container writes beside the model (common/dataset.py write_report_split)
SPLIT_FILE = "split.json"
#: largest split.json read (COCO of the val split; a bigger one is reported, not read)
MAX_SPLIT_BYTES = 64 * 1024 * 1024
#: most val images / annotations / categories taken from split.json
MAX_SPLIT_ITEMS = 1_000_000


@dataclass
class ValSplit:
    """The run's val split (COCO dict, read from split.json) and the folder its images are in."""

    coco: dict[str, Any]
    images_dir: Path
    seed: int | None


def _finite(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _plain_name(v: Any) -> bool:
    return (isinstance(v, str) and 0 < len(v) <= 255 and "/" not in v and "\\" not in v
            and "\x00" not in v and v not in (".", "..") and not v.startswith("."))


def _check_coco(coco: Any) -> str | None:
    """Why ``coco`` is not a val split tc report can use (None when it is)."""
    if not isinstance(coco, dict):
        return "'val' is not an object"
    lists = {k: coco.get(k, []) for k in ("images", "annotations", "categories")}
    for key, items in lists.items():
        if not isinstance(items, list) or len(items) > MAX_SPLIT_ITEMS:
            return f"'val.{key}' is not a list of at most {MAX_SPLIT_ITEMS} items"
        if not all(isinstance(i, dict) and isinstance(i.get("id"), int) for i in items):
            return f"an entry of 'val.{key}' has no integer id"
    if not all(_plain_name(i.get("file_name")) for i in lists["images"]):
        return "an image's file_name is not a plain file name (a path, '..' or empty)"
    if not all(isinstance(c.get("name"), str) for c in lists["categories"]):
        return "a category has no name"
    for a in lists["annotations"]:
        if not isinstance(a.get("image_id"), int) or not isinstance(a.get("category_id"), int):
            return "an annotation has no integer image_id/category_id"
        box = a.get("bbox")
        if box is not None and not (isinstance(box, list) and len(box) == 4
                                    and all(_finite(x) for x in box)):
            return "an annotation's bbox is not four finite numbers"
        seg = a.get("segmentation")
        if seg is not None and not (isinstance(seg, list) and all(
                isinstance(poly, list) and all(_finite(x) for x in poly) for poly in seg)):
            return "an annotation's segmentation is not a list of polygons"
    return None


def read_split(run: Run) -> tuple[dict[str, Any] | None, str | None]:
    """``.tc/train/split.json`` as data (size cap, depth cap, shape checked): (split, why not)."""
    path = run.train_dir / SPLIT_FILE
    if not path.is_file() and not path.is_symlink():
        return None, (f"no {SPLIT_FILE} in {run.train_dir} (the container writes the val split "
                      "there; run tc dev-run again)")
    if not is_inside(path, run.project.root):
        return None, f"{SPLIT_FILE} resolves outside the project; not read"
    try:
        data = jsonload.load(path, max_bytes=MAX_SPLIT_BYTES, name=SPLIT_FILE)
    except InputError as exc:
        return None, f"{exc.message}; no validation images"
    if not isinstance(data, dict) or data.get("version") != 1:
        return None, f"{SPLIT_FILE}: not a version 1 split file; no validation images"
    why = _check_coco(data.get("val"))
    if why:
        return None, f"{SPLIT_FILE}: {why}; no validation images"
    return data, None


def _confined_images(coco: dict[str, Any], folder: Path, notes: list[str]) -> dict[str, Any]:
    """``coco`` without the images that are not regular files inside ``folder``."""
    keep, dropped = [], 0
    base = folder.resolve()
    for img in coco.get("images", []):
        path = folder / img["file_name"]
        try:
            ok = path.resolve().parent == base and stat.S_ISREG(path.stat().st_mode)
        except (OSError, RuntimeError):
            ok = False
        if ok:
            keep.append(img)
        else:
            dropped += 1
    if dropped:
        notes.append(f"{dropped} val image{'s' if dropped != 1 else ''} of split.json not found "
                     f"as regular files in {folder}; left out")
    return {**coco, "images": keep}


@contextlib.contextmanager
def val_split(run: Run) -> Iterator[ValSplit | None]:
    """The val split the container wrote (split.json), its images in ``.tc/minio`` (None when
    there is none). No project code runs: the file is read as untrusted data."""
    split, why = read_split(run)
    if split is None:
        run.notes.append(str(why))
        yield None
        return
    ds = split.get("dataset_id")
    ds_id = int(ds) if isinstance(ds, int | str) and str(ds).isdigit() else None
    if ds_id is None or (run.dataset_id is not None and ds_id != run.dataset_id):
        run.notes.append(f"{SPLIT_FILE} is of dataset {ds}, not {run.dataset_id}: "
                         "no validation images")
        yield None
        return
    run.dataset_id = ds_id
    folder = run.project.tc_dir / "minio" / "datasets" / str(ds_id)
    if not folder.is_dir() or not is_inside(folder, run.project.root):
        run.notes.append(f"no dataset {ds_id} in {run.project.tc_dir / 'minio'}/datasets: "
                         "no validation images")
        yield None
        return
    seed = split.get("seed")
    yield ValSplit(_confined_images(split["val"], folder, run.notes), folder,
                   seed if isinstance(seed, int) and not isinstance(seed, bool) else None)
