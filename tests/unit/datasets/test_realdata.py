"""The real-data corpus (tests/fixtures/realdata/, public exports that nobody here wrote; see
each PROVENANCE.md): ``tc dataset import`` / ``tc dataset inspect`` and the in-image stage
against independent readers (tests/unit/datasets/realdata.py: pycocotools, xml.etree, plain
text, a folder walk). Boxes and polygon vertices within 0.01 px, masks pixel for pixel
(tc's CVAT RLE decoded by the test's own decoder), image sizes exact, the source's subsets
kept; what is genuinely unsupported is one clear exit-2 line. The table in docs/datasets.md
("Real-data corpus") is printed by ``python -m tests.unit.datasets.realdata_table``.
"""

from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image as PILImage

from tcli.datasets.importer import import_dataset
from tcli.datasets.inspect import inspect
from tcli.errors import InputError

from .conftest import run_prepare
from .realdata import (
    ROOT,
    TOL,
    Dataset,
    differences,
    read_coco,
    read_cvat_xml,
    read_tc_output,
    read_voc,
    subsets,
    tags,
    training_objects,
)
from .realdata_corpus import CORPUS, Entry

IMPORTED = [e for e in CORPUS.values() if e.refusal is None and e.import_ok]
ACCEPTED = [e for e in CORPUS.values() if e.refusal is None]
REFUSED = [e for e in CORPUS.values() if e.refusal is not None]
WITH_SUBSETS = [e for e in IMPORTED if any(s is not None for s in subsets(e.read()).values())]


def _ids(entries: list[Entry]) -> list[str]:
    return [e.name.removeprefix("datumaro_") for e in entries]


def _import(src: Path, tmp: Path) -> tuple[Path, str]:
    res = import_dataset(src, tmp / "minio")
    return res.target, res.format


def _count(ds: Dataset) -> tuple[int, int]:
    return len(ds), sum(len(im.objs) for im in ds.values())


@pytest.mark.parametrize("entry", IMPORTED, ids=_ids(IMPORTED))
def test_import_matches_the_independent_reader(entry: Entry, tmp_path: Path) -> None:
    """Same images (by source path, with their sizes), same objects per image: kind, label,
    coordinates within 0.01 px, mask pixels equal."""
    want = entry.read()
    target, fmt = _import(entry.path, tmp_path)
    assert fmt == entry.fmt
    got = read_tc_output(target)
    diff = differences(want, got, superset=entry.superset)
    assert not diff, "\n".join(diff)


@pytest.mark.parametrize("entry", ACCEPTED, ids=_ids(ACCEPTED))
def test_inspect_counts_match_the_independent_reader(entry: Entry) -> None:
    want_images, want_objs = _count(entry.read())
    ins = inspect(entry.path)
    assert ins.format == entry.fmt
    if entry.superset:
        assert ins.images >= want_images and ins.shapes >= want_objs
    else:
        assert (ins.images, ins.shapes) == (want_images, want_objs)


@pytest.mark.parametrize("entry", IMPORTED, ids=_ids(IMPORTED))
def test_inspect_of_the_imported_dataset_counts_the_same(entry: Entry, tmp_path: Path) -> None:
    """``tc dataset inspect DEST``: the platform layout tc wrote, read back by tc's own inspect."""
    want_images, want_objs = _count(entry.read())
    target, _ = _import(entry.path, tmp_path)
    ins = inspect(tmp_path / "minio")
    assert (ins.layout, ins.path) == ("platform", target)
    if entry.superset:
        assert ins.images >= want_images and ins.shapes >= want_objs
    else:
        assert (ins.images, ins.shapes) == (want_images, want_objs)


@pytest.mark.parametrize("entry", ACCEPTED, ids=_ids(ACCEPTED))
def test_inspect_a_relative_source_path(entry: Entry, monkeypatch: pytest.MonkeyPatch) -> None:
    """``cd realdata && tc dataset inspect <name>`` sees what the absolute path sees."""
    absolute = inspect(entry.path)
    monkeypatch.chdir(ROOT)
    relative = inspect(Path(entry.name))
    assert (relative.format, relative.images, relative.shapes) == \
        (absolute.format, absolute.images, absolute.shapes)


@pytest.mark.parametrize("entry", WITH_SUBSETS, ids=_ids(WITH_SUBSETS))
def test_the_source_split_is_kept_as_cvat_subsets(entry: Entry, tmp_path: Path) -> None:
    want = subsets(entry.read())
    got = subsets(read_tc_output(_import(entry.path, tmp_path)[0]))
    assert {rel: got.get(rel) for rel in want} == want


@pytest.mark.parametrize("entry", REFUSED, ids=_ids(REFUSED))
def test_unsupported_sources_are_one_clear_exit_2_line(entry: Entry, tmp_path: Path) -> None:
    with pytest.raises(InputError) as exc:
        import_dataset(entry.path, tmp_path / "minio")
    msg = str(exc.value)
    words = re.sub(r"\S*/\S*|\S+\.json\S*", "", msg.lower())  # not the file names
    assert "\n" not in msg and all(w in words for w in entry.refusal or ()), msg
    assert "category_id none" not in words and "category_id 0" not in words, msg
    assert not (tmp_path / "minio" / "datasets" / "1").exists()


def _stage_objects(minio: Path, out: Path) -> dict[str, list[tuple[str, tuple[float, ...]]]]:
    det = run_prepare(minio, 1, out, "detection")
    return {rel: sorted((a["category"], tuple(a["bbox"])) for a in anns)
            for rel, anns in det["per_image"].items()}


DETECTION = [e for e in IMPORTED if any(o.kind in ("box", "polygon", "mask")
                                        for im in e.read().values() for o in im.objs)]
TAGGED = [e for e in IMPORTED if any(o.kind == "tag" for im in e.read().values() for o in im.objs)]


@pytest.mark.parametrize("entry", DETECTION, ids=_ids(DETECTION))
def test_in_image_detection_stage_gets_every_object(entry: Entry, tmp_path: Path) -> None:
    """The runtime's dataset stage (cvat_dataset.parse_cvat + dataset.prepare) on the imported
    dataset: per image one training object per source object (a group is one object, its box
    the union of the parts), boxes within 0.01 px (a mask's box from its pixels)."""
    want = training_objects(entry.read())
    target, _ = _import(entry.path, tmp_path)
    got = _stage_objects(target.parents[1], tmp_path / "stage")
    if entry.superset:
        want = {rel: objs for rel, objs in want.items() if objs}
    for rel, objs in want.items():
        have = list(got.get(rel, []))
        assert len(have) >= len(objs) if entry.superset else len(have) == len(objs), \
            f"{rel}: {len(have)} training objects, expected {len(objs)}: {have} vs {objs}"
        for lab, box in objs:
            k = next((i for i, (gl, gb) in enumerate(have) if gl == lab and all(
                abs(a - b) <= TOL for a, b in zip(gb, box, strict=True))), None)
            assert k is not None, f"{rel}: {lab} {box} not among {have}"
            have.pop(k)
    if not entry.superset:
        assert set(got) == set(want)


@pytest.mark.parametrize("entry", TAGGED, ids=_ids(TAGGED))
def test_in_image_parser_reads_every_tag(entry: Entry, tmp_path: Path) -> None:
    """The runtime's CVAT parser on the imported XML: the tags of every image."""
    import cvat_dataset

    want = tags(entry.read())
    target, _ = _import(entry.path, tmp_path)
    mapping = json.loads((target / "annotations" / "mapping.json").read_text())["files"]
    ann = cvat_dataset.parse_cvat(target / "annotations" / "annotations.xml", {"tag"})
    got = {mapping[name]: sorted(ann.labels[s[1]] for s in (img.shapes or ()) if s[0] == "tag")
           for name, img in ann.images.items()}
    assert got == want


def test_roboflow_placeholder_category_is_not_a_class(tmp_path: Path) -> None:
    """Roboflow writes its project name as category 0 (``supercategory: none``, no annotation,
    the others' super-category): it is not a class, neither in the CVAT labels nor in what
    the in-image stage trains on (Roboflow's own YOLO export of the same data has one class)."""
    target, _ = _import(ROOT / "roboflow_weeds_coco", tmp_path)
    meta = ET.parse(target / "annotations" / "annotations.xml").getroot().find("meta")
    assert meta is not None
    assert [lab.findtext("name") for lab in meta.iter("label")] == ["home"]
    assert run_prepare(target.parents[1], 1, tmp_path / "stage", "detection")["categories"] == ["home"]


# ----------------------------------------------------------------------------- layout variants

def test_coco_annotation_file_given_directly(tmp_path: Path) -> None:
    """``tc dataset import annotations/instances_train.json``: that one split."""
    src = ROOT / "datumaro_coco_instances"
    want = read_coco(src, [("annotations/instances_train.json", "images/train", "train")])
    target, fmt = _import(src / "annotations" / "instances_train.json", tmp_path)
    assert fmt == "coco"
    diff = differences(want, read_tc_output(target))
    assert not diff, "\n".join(diff)


def test_coco_official_one_split_layout(tmp_path: Path) -> None:
    """``annotations/instances_train2017.json`` + ``train2017/`` (the official layout, one split)."""
    src = tmp_path / "coco2017"
    (src / "annotations").mkdir(parents=True)
    shutil.copy(ROOT / "datumaro_mmdet_coco" / "annotations" / "instances_train.json",
                src / "annotations" / "instances_train2017.json")
    shutil.copytree(ROOT / "datumaro_mmdet_coco" / "train", src / "train2017")
    want = read_coco(src, [("annotations/instances_train2017.json", "train2017", "train2017")])
    diff = differences(want, read_tc_output(_import(src, tmp_path)[0]))
    assert not diff, "\n".join(diff)


def test_cvat_project_with_one_subset_present(tmp_path: Path) -> None:
    """Only ``images/Train/`` is there: Train's annotations on Train's files, nothing of the
    other subsets attached to them."""
    src = tmp_path / "project"
    shutil.copytree(ROOT / "datumaro_cvat_export_project", src)
    for s in ("Test", "Validation"):
        shutil.rmtree(src / "images" / s)
    want = {rel: im for rel, im in read_cvat_xml(
        src / "annotations.xml", lambda n, s: f"images/{s}/{n}").items() if im.subset == "Train"}
    got = read_tc_output(_import(src, tmp_path)[0])
    diff = differences(want, got)
    assert not diff, "\n".join(diff)
    assert subsets(got) == subsets(want)


def test_voc_without_size_reads_the_image_header(tmp_path: Path) -> None:
    """datumaro's voc_dataset2 (no ``<size>``) with its images present (generated here, blank,
    each a different size): sizes come from the files, boxes as they are."""
    src = tmp_path / "voc"
    shutil.copytree(ROOT / "datumaro_voc_dataset2", src)
    (src / "JPEGImages").mkdir()
    for i, stem in enumerate("abcd"):
        PILImage.new("RGB", (12 + i, 9 + 2 * i)).save(src / "JPEGImages" / f"{stem}.jpg")
    want = read_voc(src, [("Annotations", "JPEGImages", None)], sizes_from_images=True)
    assert len(want) == 4
    diff = differences(want, read_tc_output(_import(src, tmp_path)[0]))
    assert not diff, "\n".join(diff)


def test_in_image_stage_one_object_per_multi_part_polygon(tmp_path: Path) -> None:
    """Derived from datumaro's coco_instances (no real multi-part polygon in the corpus): its
    polygon given a second part, as COCO writes an object in two pieces. tc carries it as two
    CVAT polygons with one group_id; the stage must train on one object, the union box."""
    src = tmp_path / "coco"
    shutil.copytree(ROOT / "datumaro_coco_instances", src)
    doc = json.loads((src / "annotations" / "instances_val.json").read_text())
    poly = next(a for a in doc["annotations"] if isinstance(a["segmentation"], list))
    poly["segmentation"].append([3.0, 5.0, 4.0, 5.0, 4.0, 8.0, 3.0, 8.0])
    (src / "annotations" / "instances_val.json").write_text(json.dumps(doc))
    want = read_coco(src, [(f"annotations/instances_{s}.json", f"images/{s}", s)
                           for s in ("train", "val")])
    target, _ = _import(src, tmp_path)
    assert not differences(want, read_tc_output(target))
    got = _stage_objects(target.parents[1], tmp_path / "stage")
    assert got == training_objects(want)
    assert ("a", (0.0, 0.0, 4.0, 8.0)) in got["images/val/b.jpg"]


def test_every_corpus_folder_has_its_provenance_and_the_corpus_stays_small() -> None:
    folders = sorted(p.name for p in ROOT.iterdir() if p.is_dir())
    assert folders == sorted(CORPUS)
    for name in folders:
        prov = (ROOT / name / "PROVENANCE.md").read_text()
        assert re.search(r"github\.com/\S+ @ `[0-9a-f]{40}`", prov) and "**Licence**" in prov, name
    assert (ROOT / "LICENSE.datumaro").read_text().startswith("MIT License")
    assert (ROOT / "cgras_cvat_masks" / "LICENSE").read_text().startswith("MIT License")
    assert sum(p.stat().st_size for p in ROOT.rglob("*") if p.is_file()) < 5 * 2 ** 20


@pytest.mark.parametrize("two_processes", [False, True], ids=["one-process", "two-process"])
@pytest.mark.parametrize("cut", ["quarter", "half", "after-a-tag-name", "in-a-label"])
def test_in_image_parser_calls_a_cut_real_file_malformed_or_truncated(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cut: str, two_processes: bool) -> None:
    """An interrupted upload: the real CVAT file (cgras_cvat_masks) cut short, wherever the cut
    falls (cut right after ``<mask`` it was reported as "shape without a label attribute").
    The parser says the file is malformed or truncated, and to re-export it."""
    import cvat_dataset

    if two_processes:
        monkeypatch.setattr("cvat_parallel.PARALLEL_MIN_BYTES", 0)
        monkeypatch.setattr("cvat_parallel.usable_cpus", lambda: 2)
    data = (ROOT / "cgras_cvat_masks" / "annotations.xml").read_bytes()
    mask = data.index(b"<mask ", len(data) // 2)
    at = {"quarter": len(data) // 4, "half": len(data) // 2, "after-a-tag-name": mask + 5,
          "in-a-label": mask + len(b'<mask label="')}[cut]
    path = tmp_path / "annotations.xml"
    path.write_bytes(data[:at])
    with pytest.raises(cvat_dataset.CvatError) as exc:
        cvat_dataset.parse_cvat(path)
    msg = str(exc.value).lower()
    assert ("truncated" in msg or "malformed" in msg) and "re-export" in msg, msg
    assert "without a label" not in msg, msg
