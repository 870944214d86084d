"""The dataset stage's output stays byte-identical to the previous implementation.

``golden/*.json`` were written by main@7fb984b's dataset.py + cvat_dataset.py (lxml
iterparse, scikit-learn split) on the fixtures below, with only its split function replaced
by this version's (the split is the one intended change: our own stratified split instead of
scikit-learn's). Every label file, data.yaml and split_manifest.json must match byte for byte;
symlinks must resolve to the same samples. Regenerate only for an intended format change:
``python -c "from tests.unit.runtime import test_dataset_format as t; t._regenerate('DIR')"``
with DIR holding the old dataset.py and cvat_dataset.py.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from .helpers import cvat_xml, image

GOLDEN = Path(__file__).parent / "golden"

SHAPES = (
    '<box label="weed" occluded="1" xtl="1.5" ytl="2.25" xbr="11.5" ybr="12.75" z_order="3">'
    '<attribute name="ripe">yes</attribute><attribute name="note">a "q" &amp; é</attribute></box>'
    '<box label="crop" occluded="0" xtl="0.1" ytl="0.2" xbr="0.3" ybr="0.7" z_order="0"/>'
    '<box label="crop" xtl="2" ytl="2" xbr="6" ybr="4" rotation="30.5"/>'
    '<box label="weed" xtl="5" ytl="5" xbr="4" ybr="9"/>'
    '<polygon label="crop" points="0,0;4,0;4,3.5" z_order="1"><attribute name="k">v</attribute>'
    '</polygon>'
    '<polyline label="weed" points="1,1;2,2"/>'
    '<mask label="weed" rle="2, 3, 1" left="1" top="1" width="3" height="2" z_order="0"/>'
)


def _image(i: int, name: str, label: str, shapes: str = SHAPES, subset: str = "Train") -> str:
    return image(i, name, f'<tag label="{label}"/>{shapes}', subset=subset)


def build(minio: Path, ds_id: int) -> Path:
    """A dataset exercising every output path: boxes with attributes, rotation, a negative
    box, polygons, masks, skipped shapes, tags, an undeclared label, a duplicate entry,
    unicode names, a negative sample (no annotation) and a non-image file."""
    from PIL import Image

    d = minio / "datasets" / str(ds_id)
    (d / "annotations").mkdir(parents=True)
    imgs = []
    for i in range(24):
        label = ("weed", "crop", "zebra")[i % 3]
        name = f"img_{i:02d}.png" if i % 5 else f"ünï cødé {i}.png"
        imgs.append(_image(i, f"user/{ds_id}/{name}", label,
                           SHAPES if i % 4 else '<box label="crop" xtl="1" ytl="1" xbr="3" '
                           'ybr="3"/>', subset=("Train", "Validation")[i % 2]))
        (d / name).write_bytes(b"")
    imgs.append(imgs[3].replace(f"user/{ds_id}/", "again/"))  # identical duplicate: merged
    Image.new("RGB", (40, 30)).save(d / "negative.png")
    (d / "notes.txt").write_text("not an image")
    (d / "annotations" / "annotations.xml").write_text(cvat_xml(imgs, ("weed", "crop")))
    return d


CASES: dict[str, tuple[str, list[str] | None, dict[str, float]]] = {
    "detection": ("detection", ["coco", "yolo"], {"train-split": 0.6, "test-split": 0.2}),
    "segmentation": ("segmentation", ["coco", "yolo"], {"train-split": 0.8, "test-split": 0.2}),
    "classification": ("classification", None, {"train-split": 0.75, "test-split": 0.25}),
}


def snapshot(root: Path, minio: Path) -> dict[str, str]:
    """Every path under ``root``: file text, or for a per-file link the sample it resolves
    to (relative to ``minio``); folders and the directory links themselves as ``/``."""
    out: dict[str, str] = {}
    real_minio = os.path.realpath(minio)
    where = str(root)
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if p.name in (".src",) or (p.is_dir() and not p.is_symlink()):
            continue
        if p.is_symlink():
            out[rel] = "-> " + os.path.relpath(os.path.realpath(p), real_minio)
        else:
            out[rel] = p.read_text(encoding="utf-8").replace(where, "$DATASETS_ROOT")
    return out


def run_case(tmp: Path, case: str, module: Any) -> dict[str, str]:
    task, formats, cfg = CASES[case]
    minio = tmp / "minio"
    if not minio.exists():
        build(minio, 5)
    out = tmp / f"out-{case}"
    module.prepare(task, cfg, dataset_id="5", minio=minio, datasets=out, formats=formats,
                   log=lambda m: None)
    return snapshot(out, minio)


def _in_two_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a large dataset takes: the parse split over two processes and the first split's
    labels.json written by a forked process (both normally from thousands of samples)."""

    monkeypatch.setattr("cvat_parallel.PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr("cvat_parallel.usable_cpus", lambda: 2)
    monkeypatch.setenv("TC_FORK_WRITER_MIN", "1")


@pytest.mark.parametrize("mode", ["one process", "forked parse and writer",
                                  "forked writer fails", "child writes all annotations",
                                  "child writes none"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_output_is_byte_identical_to_the_previous_implementation(
        tmp_path: Path, case: str, mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import dataset

    if mode != "one process":
        _in_two_processes(monkeypatch)
    if mode == "child writes all annotations":  # the parent's share looks huge: cut at the end
        monkeypatch.setattr("dataset_labels.MANIFEST_COST", 1e9)
    if mode == "child writes none":  # cut before the first sample
        monkeypatch.setattr("dataset_labels.MANIFEST_COST", -1e9)
    if mode == "forked writer fails":  # the parent writes the file again: same bytes
        import dataset_labels

        parent, write = os.getpid(), dataset_labels.write_annotations

        def failing_in_the_child(*args: Any, **kwargs: Any) -> int:
            if os.getpid() != parent:
                (tmp_path / "child-ran").touch()
                raise OSError(28, "No space left on device")
            return write(*args, **kwargs)

        # the forked child of dataset_labels.SharedCoco writes through this name
        monkeypatch.setattr(dataset_labels, "write_annotations", failing_in_the_child)
    golden = json.loads((GOLDEN / f"{case}.json").read_text(encoding="utf-8"))
    got = run_case(tmp_path, case, dataset)
    assert (tmp_path / "child-ran").exists() == (mode == "forked writer fails")
    assert sorted(got) == sorted(golden["files"])
    for rel, text in golden["files"].items():
        assert got[rel] == text, rel


def _regenerate(old_runtime: str) -> None:  # pragma: no cover - maintenance tool
    """Write golden/*.json with the dataset.py in ``old_runtime`` (a folder holding the old
    dataset.py and cvat_dataset.py), its split replaced by this version's."""
    import importlib.util
    import tempfile

    here = Path(__file__).resolve()
    repo = here.parents[3]
    sys.path[:0] = [old_runtime]
    import dataset as old  # the old one, first on the path

    spec = importlib.util.spec_from_file_location(
        "dataset_new", repo / "scaffolds/project/common/dataset.py")
    assert spec and spec.loader
    new = importlib.util.module_from_spec(spec)
    sys.modules["dataset_new"] = new
    spec.loader.exec_module(new)
    old.split_samples = new.split_samples
    GOLDEN.mkdir(exist_ok=True)
    for case in CASES:
        with tempfile.TemporaryDirectory() as tmp:
            files = run_case(Path(tmp), case, old)
        (GOLDEN / f"{case}.json").write_text(json.dumps(
            {"made_by": f"{old_runtime} (split of this version)", "files": files},
            indent=1, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
