"""One training object per CVAT group (``group_id``): a multi-part COCO polygon imported as a
group, or shapes grouped in CVAT, become one annotation (union box; polygons kept together;
masks merged)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .helpers import cvat_xml, make_dataset

GROUPED = (
    # group 1: two polygons of one "weed" (a multi-part COCO polygon)
    '<polygon label="weed" points="1,1;5,1;5,4" group_id="1" z_order="0">'
    '<attribute name="src">coco</attribute></polygon>'
    '<polygon label="weed" points="10,8;14,8;14,12" group_id="1" z_order="0"/>'
    # group 2: a box and a polygon of "crop", and a "weed" box in the same group (its own object)
    '<box label="crop" xtl="2" ytl="14" xbr="6" ybr="18" group_id="2" occluded="1"/>'
    '<polygon label="crop" points="20,2;24,2;24,6" group_id="2"/>'
    '<box label="weed" xtl="25" ytl="15" xbr="28" ybr="19" group_id="2"/>'
    # no group / group 0: separate objects
    '<box label="crop" xtl="0" ytl="0" xbr="1" ybr="1" group_id="0"/>'
    '<box label="crop" xtl="3" ytl="3" xbr="4" ybr="4"/>'
)


def _image(i: int, shapes: str = GROUPED) -> str:
    return f'<image id="{i}" name="{i}.png" width="32" height="24">{shapes}</image>'


def _prepare(tmp_path: Path, task: str, xml: str, n: int, formats: Any = None) -> list[dict]:
    import dataset

    make_dataset(tmp_path / "m", 5, n, xml=xml)
    dataset.prepare(task, {"train-split": 1.0, "test-split": 0.0}, dataset_id="5",
                    minio=tmp_path / "m", datasets=tmp_path / "d", formats=formats,
                    log=lambda m: None)
    coco = json.loads((tmp_path / "d/labels/train/labels.json").read_text())
    return list(coco["annotations"])


@pytest.fixture(params=["one process", "two processes"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:

    if request.param == "two processes":  # forked parse and forked COCO writer
        monkeypatch.setattr("cvat_parallel.PARALLEL_MIN_BYTES", 0)
        monkeypatch.setattr("cvat_parallel.usable_cpus", lambda: 2)
        monkeypatch.setenv("TC_FORK_WRITER_MIN", "1")
    return str(request.param)


def test_detection_one_object_per_group_and_label(tmp_path: Path, mode: str) -> None:
    anns = _prepare(tmp_path, "detection", cvat_xml([_image(0)]), 1)
    got = [(a["category_id"], a["bbox"], a["attributes"].get("group_id")) for a in anns]
    assert got == [
        (2, [2.0, 2.0, 22.0, 16.0], 2),   # crop box (2,14,4,4) + crop polygon (20,2)-(24,6)
        (1, [25.0, 15.0, 3.0, 4.0], None),  # the weed box of group 2: alone in its label
        (2, [0.0, 0.0, 1.0, 1.0], None),
        (2, [3.0, 3.0, 1.0, 1.0], None),
        (1, [1.0, 1.0, 13.0, 11.0], 1),   # the two weed polygons: one object
    ]
    weed = anns[4]
    assert weed["area"] == 6.0 + 8.0 and weed["iscrowd"] == 0
    assert weed["attributes"] == {"occluded": False, "z_order": 0, "src": "coco", "group_id": 1}
    assert anns[0]["attributes"]["occluded"] is True  # the first part's attributes
    assert [a["id"] for a in anns] == [1, 2, 3, 4, 5]


def test_the_group_is_read_in_both_parse_modes(tmp_path: Path, mode: str) -> None:
    import cvat_dataset

    p = tmp_path / "annotations.xml"
    p.write_text(cvat_xml([_image(i) for i in range(6)]))
    ann = cvat_dataset.parse_cvat(p)
    for i in range(6):
        img = ann.images[f"{i}.png"]
        assert img.grouped and img.groups == {0: 1, 1: 1, 2: 2}
        assert [ann.boxes.groups.get(k) for k in range(img.b0, img.b1)] == [2, 2, None, None]


def test_segmentation_keeps_the_parts_together(tmp_path: Path, mode: str) -> None:
    anns = _prepare(tmp_path, "segmentation", cvat_xml([_image(0)]), 1)
    crop, weed = anns[0], anns[4]
    assert weed["segmentation"] == [[1, 1, 5, 1, 5, 4], [10, 8, 14, 8, 14, 12]]
    assert crop["segmentation"] == [[2, 14, 6, 14, 6, 18, 2, 18], [20, 2, 24, 2, 24, 6]]


def test_a_mask_in_a_group_merges_the_pixels(tmp_path: Path, mode: str) -> None:
    """A 2x2 mask at (1, 1) and a 3x1 mask at (6, 5) with the same group: one RLE whose
    pixels are both masks', its box their union."""
    import numpy as np

    shapes = ('<mask label="weed" rle="0, 4" left="1" top="1" width="2" height="2" '
              'group_id="4"/><mask label="weed" rle="0, 3" left="6" top="5" width="3" '
              'height="1" group_id="4"/>')
    (ann,) = _prepare(tmp_path, "segmentation", cvat_xml([_image(0, shapes)]), 1)
    flat: list[int] = []
    val = 0
    for c in ann["segmentation"]["counts"]:
        flat += [val] * c
        val ^= 1
    m = np.array(flat, dtype=np.uint8).reshape((32, 24)).T
    assert sorted(zip(*np.nonzero(m), strict=True)) == \
        [(1, 1), (1, 2), (2, 1), (2, 2), (5, 6), (5, 7), (5, 8)]
    assert ann["bbox"] == [1.0, 1.0, 8.0, 5.0] and ann["area"] == 7.0 and ann["iscrowd"] == 1
    (det,) = _prepare(tmp_path / "det", "detection", cvat_xml([_image(0, shapes)]), 1)
    assert det["bbox"] == [1.0, 1.0, 8.0, 5.0] and det["area"] == 7.0


def test_yolo_detection_writes_one_box_per_group(tmp_path: Path, mode: str) -> None:
    _prepare(tmp_path, "detection", cvat_xml([_image(0)]), 1, formats=["coco", "yolo"])
    lines = (tmp_path / "d/labels/train/0.txt").read_text().splitlines()
    assert len(lines) == 5
    assert lines[4] == f"0 {7.5 / 32:.6f} {6.5 / 24:.6f} {13 / 32:.6f} {11 / 24:.6f}"


def test_many_grouped_images_through_the_forked_writer_match_one_process(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:

    xml = cvat_xml([_image(i, GROUPED if i % 3 else GROUPED.replace("group_id", "gid"))
                    for i in range(12)])
    one = _prepare(tmp_path / "one", "detection", xml, 12)
    monkeypatch.setattr("cvat_parallel.PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr("cvat_parallel.usable_cpus", lambda: 2)
    monkeypatch.setenv("TC_FORK_WRITER_MIN", "1")
    two = _prepare(tmp_path / "two", "detection", xml, 12)
    assert one == two and len(one) == 8 * 5 + 4 * 7
