"""``tc dev-run --dataset SRC`` in any format: imported once into the project's .tc/, cached by
content, then laid out in the mock MinIO like a CVAT dataset."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tcli import devrun
from tcli.devrun.minio import describe, prepare_dataset
from tests.unit.test_devrun import make_project, write_cvat

from . import synth


def test_dev_run_dataset_accepts_coco_and_caches(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p")
    ref = project.select(None)
    synth.make_coco(tmp_path / "coco", n=4)
    opts = devrun.DevRunOptions(dataset=tmp_path / "coco")
    layout = prepare_dataset(project, ref, opts, 1)
    assert layout.imported_from == "coco" and layout.mode == "hardlink" and layout.samples == 4
    target = project.tc_dir / "minio" / "datasets" / "1"
    xml = target / "annotations" / "annotations.xml"
    assert "<polygon" in xml.read_text() and "<mask" in xml.read_text()
    assert describe(project, layout).endswith("imported from coco (cached in .tc/imports)")
    caches = list((project.tc_dir / "imports").iterdir())
    assert len(caches) == 1
    cached_xml = caches[0] / "datasets" / "1" / "annotations" / "annotations.xml"
    stamp = os.stat(cached_xml).st_mtime_ns
    # a second run does not convert again
    prepare_dataset(project, ref, opts, 1)
    assert os.stat(cached_xml).st_mtime_ns == stamp
    assert list((project.tc_dir / "imports").iterdir()) == caches
    # a changed source is imported again
    doc = json.loads((tmp_path / "coco" / "annotations" / "instances.json").read_text())
    doc["annotations"] = doc["annotations"][:1]
    (tmp_path / "coco" / "annotations" / "instances.json").write_text(json.dumps(doc))
    layout = prepare_dataset(project, ref, opts, 1)
    assert len(list((project.tc_dir / "imports").iterdir())) == 2
    assert xml.read_text().count("<box ") == 1


def test_dev_run_dataset_cvat_is_linked_as_before(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p")
    write_cvat(tmp_path / "data", ["a.png"])
    layout = prepare_dataset(project, project.select(None),
                             devrun.DevRunOptions(dataset=tmp_path / "data"), 2)
    assert layout.imported_from is None and layout.samples == 1
    assert not (project.tc_dir / "imports").exists()
