"""CVAT parser: formats, label order, and hostile or broken inputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import box_image, cvat_xml


@pytest.fixture(autouse=True, params=["one process", "two processes"])
def parse_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every case twice: as a small file is parsed, and through the two-process split that
    large files take (which must give the same result and the same errors)."""

    if request.param == "two processes":
        monkeypatch.setattr("cvat_parallel.PARALLEL_MIN_BYTES", 0)
        monkeypatch.setattr("cvat_parallel.usable_cpus", lambda: 2)


def _parse(tmp_path: Path, text: str, keep=None):
    import cvat_dataset

    p = tmp_path / "annotations.xml"
    p.write_text(text)
    return cvat_dataset.parse_cvat(p, keep) if keep else cvat_dataset.parse_cvat(p)


def test_task_export_boxes_tags_attributes(tmp_path: Path) -> None:
    ann = _parse(tmp_path, cvat_xml([box_image(0, "u/1/a.png", "crop"),
                                     box_image(1, "b.png", "weed")]))
    assert ann.labels == ["weed", "crop"]  # meta order, not appearance order
    a = ann.images["a.png"]
    assert (a.xml_name, a.width, a.height, a.subset) == ("u/1/a.png", 32, 24, "Train")
    assert (ann.boxes.x[a.b0], ann.boxes.y[a.b0], ann.boxes.w[a.b0], ann.boxes.h[a.b0]) == \
        (1.5, 2.0, 10.0, 10.0)
    assert ann.boxes.label[a.b0] == 1
    assert ann.boxes.attrs[a.b0] == (("a", "v0"),)
    assert ann.boxes.flags[ann.images["b.png"].b0] & 1 == 1  # occluded
    assert a.shapes == [("tag", 1, None, False, 0, None)]


def test_project_export_labels_under_meta_project(tmp_path: Path) -> None:
    ann = _parse(tmp_path, cvat_xml([box_image(0, "a.png", "crop")], ("x", "crop", "weed"),
                                    project=True))
    assert ann.labels == ["x", "crop", "weed"]


def test_label_missing_from_meta_is_appended_and_counted(tmp_path: Path) -> None:
    ann = _parse(tmp_path, cvat_xml([box_image(0, "a.png", "zebra"), box_image(1, "b.png", "ant"),
                                     box_image(2, "c.png", "zebra")], ("weed",)))
    assert ann.labels == ["weed", "zebra", "ant"]
    assert ann.warnings["label 'zebra' is not declared in <meta> (appended)"] == 1


def test_polyline_points_skipped_with_count(tmp_path: Path) -> None:
    extra = ('<polyline label="weed" points="1,1;2,2" z_order="0"/>'
             '<points label="weed" points="1,1" z_order="0"/>'
             '<polygon label="crop" points="0,0;4,0;4,3" z_order="2"/>')
    ann = _parse(tmp_path, cvat_xml([box_image(0, "a.png", "weed", extra=extra)]),
                 keep=frozenset({"box", "polygon", "mask"}))
    assert ann.warnings["skipped <polyline> shapes"] == 1
    assert ann.warnings["skipped <points> shapes"] == 1
    assert ann.warnings["skipped <tag> shapes"] == 1
    kinds = [s[0] for s in ann.images["a.png"].shapes]
    assert kinds == ["polygon"]


def test_mask_rle_to_coco_roundtrip() -> None:
    import cvat_dataset
    import numpy as np

    # 3x2 box at (1,1): row-major runs 0:2, 1:3, 0:1 -> rows [0 0 1] [1 1 0]
    rle, area, bbox = cvat_dataset.cvat_rle_to_coco(1, 1, 3, 2, "2, 3, 1", 5, 4)
    assert area == 3.0 and rle["size"] == [4, 5]
    flat = []
    val = 0
    for c in rle["counts"]:
        flat += [val] * c
        val ^= 1
    m = np.array(flat, dtype=np.uint8).reshape((5, 4)).T  # column-major
    expected = np.zeros((4, 5), dtype=np.uint8)
    expected[1, 3] = 1
    expected[2, 1] = expected[2, 2] = 1
    assert (m == expected).all()
    assert bbox == [1.0, 1.0, 3.0, 2.0]


# ------------------------------------------------------------------ hostile / broken inputs

XXE = """<?xml version="1.0"?>
<!DOCTYPE annotations [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<annotations><version>&xxe;</version><image id="0" name="a.png"/></annotations>
"""
LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<annotations><image id="0" name="&lol3;"/></annotations>
"""


@pytest.mark.parametrize(("text", "needle"), [
    (XXE, "DOCTYPE"),
    (LAUGHS, "DOCTYPE"),
    ('<?xml version="1.0"?>\n<!-- c --><!DOCTYPE x SYSTEM "http://127.0.0.1:1/x.dtd"><annotations/>',
     "DOCTYPE"),
    (cvat_xml([box_image(0, "a.png", "weed")])[:-60], "malformed or truncated"),
    ("<annotations><image id='0' name='a.png'><box label='weed' xtl='1'", "malformed or truncated"),
    ("", "malformed or truncated"),
    ("<root><image id='0' name='a.png'/></root>", "root element is <root>"),
    ("<html><body/></html>", "root element is <html>"),
    ("<annotations><track id='0' label='weed'/></annotations>", "CVAT for video"),
    (cvat_xml([box_image(0, "../../etc/passwd", "weed")]), "contains '..'"),
    (cvat_xml([box_image(0, "/etc/passwd", "weed")]), "absolute image name"),
    (cvat_xml([box_image(0, "C:\\\\data\\\\a.png", "weed")]), "absolute image name"),
    (cvat_xml([box_image(0, "a/..\\\\b.png", "weed")]), "contains '..'"),
    (cvat_xml([box_image(0, "dir/", "weed")]), "has no file name"),
    (cvat_xml(['<image id="0" name="a.png"><box label="weed" xtl="x" ytl="0" xbr="1" ybr="1"/>'
               '</image>']), "xtl='x' is not a number"),
    (cvat_xml(['<image id="0" name="a.png"><box label="weed" xtl="nan" ytl="0" xbr="1" ybr="1"/>'
               '</image>']), "not a finite number"),
    (cvat_xml(['<image id="0" name="a.png"><box xtl="0" ytl="0" xbr="1" ybr="1"/></image>']),
     "shape without a label"),
    (cvat_xml(['<image id="0" name="a.png"><polygon label="weed" points="1;2"/></image>']),
     "is not 'x,y;x,y;...'"),
    (cvat_xml([box_image(0, "train/a.png", "weed", subset="Train"),
               box_image(1, "val/a.png", "crop", subset="Validation")]),
     "'train/a.png' (subset 'Train') and 'val/a.png' (subset 'Validation')"),
])
def test_hostile_or_broken_input_fails_clearly(tmp_path: Path, text: str, needle: str) -> None:
    import cvat_dataset

    with pytest.raises(cvat_dataset.CvatError) as exc:
        _parse(tmp_path, text)
    assert needle in str(exc.value)
    assert str(tmp_path) in str(exc.value)  # names the file


def test_xxe_content_never_appears(tmp_path: Path) -> None:
    import cvat_dataset

    with pytest.raises(cvat_dataset.CvatError) as exc:
        _parse(tmp_path, XXE)
    assert "root:" not in str(exc.value)


def test_identical_duplicate_entries_are_merged(tmp_path: Path) -> None:
    ann = _parse(tmp_path, cvat_xml([box_image(0, "t1/a.png", "weed"),
                                     box_image(0, "t2/a.png", "weed")]))
    assert list(ann.images) == ["a.png"]
    assert len(ann.boxes) == 1
    assert ann.warnings["duplicate <image> entries with identical annotations (merged)"] == 1


def test_rotated_box_gets_enclosing_bbox(tmp_path: Path) -> None:
    ann = _parse(tmp_path, cvat_xml(['<image id="0" name="a.png" width="9" height="9">'
                                     '<box label="weed" xtl="0" ytl="0" xbr="4" ybr="2" '
                                     'rotation="90"/></image>']))
    b = ann.boxes
    assert (round(b.x[0], 6), round(b.y[0], 6), round(b.w[0], 6), round(b.h[0], 6)) == \
        (1.0, -1.0, 2.0, 4.0)
