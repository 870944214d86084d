"""Hostile dataset sources for ``tc dataset import|inspect`` (issue 28, items 8-10 and the
unbounded-memory cases): a user's edits survive ``--force``; NaN/infinite/negative/huge
numbers never reach annotations.xml; a DOCTYPE anywhere is refused; a YAML alias bomb and a
huge annotated image stay within 1 GiB of address space.

Every case runs ``python -m tcli`` in a fresh process and checks that nothing outside the
declared outputs changed (:class:`tests.hostile.conftest.Guard`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.hostile.conftest import Guard
from tests.hostile.harness import REPO, Result, assert_clean_failure, env_for
from tests.hostile.harness import tc as _tc
from tests.unit.datasets import synth

pytestmark = pytest.mark.hostile

#: the address-space cap of the memory cases
GIB = 1 << 30


def tc(*args: str | Path, cwd: Path, **kw: Any) -> Result:
    """The harness's ``tc``, importing THIS tree's tcli (not whatever is installed)."""
    return _tc(*args, cwd=cwd, env=env_for(cwd, PYTHONPATH=str(REPO)), **kw)


def _xml(dest: Path, n: int = 1) -> str:
    return (dest / "datasets" / str(n) / "annotations" / "annotations.xml").read_text()


def _ok(r: Result) -> None:
    both = r.stdout + r.stderr
    assert "Traceback" not in both and "internal error" not in both, both[-2000:]
    assert r.rc == 0, both[-2000:]


# ---- 8: --force judges by content, not by name ------------------------------------------

def _imported(tmp_path: Path) -> tuple[Path, Path]:
    src, dest = tmp_path / "src", tmp_path / "dest"
    synth.make_imagefolder(src)
    _ok(tc("dataset", "import", src, dest, "--id", "1", cwd=tmp_path))
    return src, dest


def test_force_keeps_a_hand_edited_annotations_xml(tmp_path: Path, guard: Guard) -> None:
    src, dest = _imported(tmp_path)
    xml = dest / "datasets" / "1" / "annotations" / "annotations.xml"
    edited = xml.read_text().replace("</annotations>", "<!-- my fixes -->\n</annotations>")
    xml.write_text(edited)
    guard.start(dest)
    r = tc("dataset", "import", src, dest, "--id", "1", "--force", cwd=tmp_path)
    guard.check()
    _ok(r)
    kept = [p for p in (dest / "datasets").glob(".1.replaced*")]
    assert len(kept) == 1, r.stdout
    assert (kept[0] / "annotations" / "annotations.xml").read_text() == edited
    assert f"kept as {kept[0]}" in r.stderr + r.stdout


def test_force_keeps_a_replaced_image(tmp_path: Path, guard: Guard) -> None:
    src, dest = _imported(tmp_path)
    sample = sorted(p for p in (dest / "datasets" / "1").iterdir() if p.is_file())[0]
    sample.unlink()
    synth.png(sample, shade=99)  # the user's own picture under tc's name
    mine = sample.read_bytes()
    guard.start(dest)
    r = tc("dataset", "import", src, dest, "--id", "1", "--force", cwd=tmp_path)
    guard.check()
    _ok(r)
    kept = [p for p in (dest / "datasets").glob(".1.replaced*")]
    assert len(kept) == 1 and (kept[0] / sample.name).read_bytes() == mine, r.stdout


# ---- 9: bad numbers never pass -----------------------------------------------------------

def _coco_with(tmp_path: Path, bad: list[float]) -> Path:
    src = tmp_path / "src"
    doc = synth.make_coco(src, n=2)
    doc["annotations"] = [a for a in doc["annotations"] if not a["segmentation"]]
    good = doc["annotations"][0]
    evil = dict(good, id=999, bbox=bad)
    doc["annotations"].append(evil)
    text = json.dumps(doc, allow_nan=True)
    (src / "annotations" / "instances.json").write_text(text)
    return src


@pytest.mark.parametrize("bad", [
    [float("nan"), 1.0, 5.0, 5.0],
    [1.0, 2.0, float("inf"), 5.0],
    [1.0, 2.0, -30.0, 5.0],
    [1e308, 2.0, 1e308, 5.0],
], ids=["nan", "infinity", "negative-width", "1e308"])
def test_coco_bad_box_is_refused_and_reported(tmp_path: Path, guard: Guard,
                                              bad: list[float]) -> None:
    src = _coco_with(tmp_path, bad)
    dest = tmp_path / "dest"
    guard.start(dest)
    r = tc("dataset", "import", src, dest, cwd=tmp_path)
    guard.check()
    _ok(r)
    xml = _xml(dest)
    assert xml.count("<box ") == 2  # the two good boxes only
    for word in ("nan", "inf", "e+308", "-30"):
        assert word not in xml.lower()
    assert "infinite, negative-size or huge" in r.stdout and "id 999" in r.stdout
    report = json.loads((dest / "datasets" / "1" / "annotations" / "import-report.json")
                        .read_text())
    assert any("refused" in k for k in report["not_carried"])


def test_coco_only_bad_boxes_fails(tmp_path: Path, guard: Guard) -> None:
    src = tmp_path / "src"
    synth.png(src / "images" / "a.png")
    (src / "annotations").mkdir()
    (src / "annotations" / "instances.json").write_text(
        '{"images": [{"id": 1, "file_name": "a.png", "width": 64, "height": 48}], '
        '"categories": [{"id": 1, "name": "x"}], "annotations": ['
        '{"id": 1, "image_id": 1, "category_id": 1, "bbox": [NaN, 0, 5, 5]}, '
        '{"id": 2, "image_id": 1, "category_id": 1, "bbox": [0, 0, Infinity, 5]}]}')
    guard.start()
    r = tc("dataset", "import", src, tmp_path / "dest", cwd=tmp_path)
    guard.check()
    assert_clean_failure(r, 2, r"nothing usable to import: none of the 2 annotations")


def test_coco_polygon_with_infinity_is_refused(tmp_path: Path, guard: Guard) -> None:
    src = tmp_path / "src"
    doc = synth.make_coco(src, n=2)
    for a in doc["annotations"]:
        if isinstance(a["segmentation"], list) and a["segmentation"]:
            a["segmentation"][0][2] = float("inf")
    (src / "annotations" / "instances.json").write_text(json.dumps(doc))
    dest = tmp_path / "dest"
    guard.start(dest)
    r = tc("dataset", "import", src, dest, cwd=tmp_path)
    guard.check()
    _ok(r)
    assert "inf" not in _xml(dest).lower() and "<polygon" not in _xml(dest)
    assert "infinite, negative-size or huge" in r.stdout


def test_voc_nan_box_is_refused(tmp_path: Path, guard: Guard) -> None:
    src = tmp_path / "src"
    synth.make_voc(src, n=2)
    p = src / "Annotations" / "0001.xml"
    p.write_text(re.sub(r"<xmin>[^<]*</xmin>", "<xmin>nan</xmin>", p.read_text(), count=1))
    assert "<xmin>nan</xmin>" in p.read_text()
    dest = tmp_path / "dest"
    guard.start(dest)
    r = tc("dataset", "import", src, dest, cwd=tmp_path)
    guard.check()
    _ok(r)
    assert "nan" not in _xml(dest).lower()
    assert "objects with NaN" in r.stdout


@pytest.mark.parametrize(("attr", "value"), [("xtl", "nan"), ("xbr", "Infinity"),
                                             ("ybr", "1e308")])
def test_cvat_bad_box_number_is_refused(tmp_path: Path, guard: Guard, attr: str,
                                        value: str) -> None:
    src = tmp_path / "src"
    xml = synth.make_cvat(src)
    old = {"xtl": 'xtl="1.5"', "xbr": 'xbr="11.75"', "ybr": 'ybr="12"'}[attr]
    (src / "annotations.xml").write_text(xml.replace(old, f'{attr}="{value}"', 1))
    guard.start()
    r = tc("dataset", "import", src, tmp_path / "dest", cwd=tmp_path)
    guard.check()
    assert_clean_failure(r, 2, rf"<image id='0' .*{attr}='{value}' is (not finite|beyond)")


# ---- 10: a DOCTYPE anywhere; bounded YAML; a huge annotated image --------------------------

def test_cvat_doctype_after_64k_is_refused(tmp_path: Path, guard: Guard) -> None:
    src = tmp_path / "src"
    xml = synth.make_cvat(src)
    head = '<?xml version="1.0" encoding="utf-8"?>\n'
    evil = (head + "<!--" + "x" * 70000 + "-->\n<!DOCTYPE annotations [<!ENTITY e \"boom\">]>\n"
            + xml[len(head):].replace("<attribute name=\"kind\">k0", "<attribute name=\"kind\">&e;"))
    (src / "annotations.xml").write_text(evil)
    guard.start()
    r = tc("dataset", "import", src, tmp_path / "dest", "--format", "cvat", cwd=tmp_path)
    assert_clean_failure(r, 2, r"annotations\.xml: has a DOCTYPE/ENTITY declaration; refused")
    r = tc("dataset", "import", src, tmp_path / "dest", cwd=tmp_path)  # auto-detected too
    guard.check()
    assert_clean_failure(r, 2, r"annotations\.xml: has a DOCTYPE/ENTITY declaration; refused")


def _yolo(src: Path, yaml_text: str) -> None:
    synth.make_yolo(src)
    (src / "data.yaml").write_text(yaml_text)


def test_yaml_alias_bomb_is_refused(tmp_path: Path, guard: Guard) -> None:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    lines.append("names: [*a9, *a9]")
    src = tmp_path / "src"
    _yolo(src, "\n".join(lines) + "\n")
    guard.start()
    r = tc("dataset", "import", src, tmp_path / "dest", cwd=tmp_path, mem_limit=GIB,
           timeout=120)
    guard.check()
    assert_clean_failure(r, 2, r"data\.yaml: uses YAML anchors/aliases")


def test_yaml_over_its_size_cap_is_refused(tmp_path: Path, guard: Guard) -> None:
    src = tmp_path / "src"
    _yolo(src, "names: [weed, crop]\n" + "# padding\n" * 300000)
    guard.start()
    r = tc("dataset", "import", src, tmp_path / "dest", cwd=tmp_path, mem_limit=GIB)
    guard.check()
    assert_clean_failure(r, 2, r"data\.yaml: \d+ bytes, more than the limit of 1048576")


def test_inspect_report_of_a_huge_annotated_empty_image(tmp_path: Path, guard: Guard) -> None:
    src = tmp_path / "src"
    synth.png(src / "images" / "ok.png")
    (src / "images" / "huge.png").write_bytes(b"")
    (src / "annotations").mkdir()
    (src / "annotations" / "instances.json").write_text(json.dumps({
        "images": [{"id": 1, "file_name": "huge.png", "width": 30000, "height": 30000},
                   {"id": 2, "file_name": "ok.png", "width": 64, "height": 48}],
        "categories": [{"id": 1, "name": "x"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1,
                         "bbox": [10, 10, 29000, 29000]},
                        {"id": 2, "image_id": 2, "category_id": 1, "bbox": [1, 1, 5, 5]}]}))
    rep = tmp_path / "rep"
    guard.start(rep)
    r = tc("dataset", "inspect", src, "--report", rep, cwd=tmp_path, mem_limit=GIB)
    guard.check()
    _ok(r)
    assert "warning: samples.png: 1 sample(s) not drawn, e.g. huge.png: not a readable image" \
        in r.stderr, r.stderr
    assert (rep / "samples.png").is_file()
    assert "samples not drawn" in (rep / "index.html").read_text()


# ---- an unusable DEST is one exit-2 line, not an internal error ----------------------------

@pytest.mark.parametrize("dest", ["/proc/tc-hostile-x", "/dev/null/x"])
def test_import_into_an_unusable_destination(tmp_path: Path, dest: str) -> None:
    src = tmp_path / "src"
    synth.make_imagefolder(src)
    r = tc("dataset", "import", src, dest, cwd=tmp_path)
    assert_clean_failure(r, 2, re.escape(f"{dest}: cannot create the dataset folder"))
