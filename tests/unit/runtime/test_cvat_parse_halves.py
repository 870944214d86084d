"""The two-process CVAT parse (a file split at an ``</image>`` near the middle, the second
half parsed in a forked process) gives exactly what the one-process parse gives — labels and
their order, images, boxes, attributes, shapes, warnings — and hands every case it cannot be
sure of (and every error) to the one-process parse."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from .helpers import box_image, cvat_xml


@pytest.fixture()
def cvat(monkeypatch: pytest.MonkeyPatch) -> Any:
    import cvat_dataset

    monkeypatch.setattr("cvat_parallel.PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr("cvat_parallel.usable_cpus", lambda: 2)
    return cvat_dataset


def _varied(n: int, seed: int = 3) -> str:
    """Boxes with attributes, polygons and tags; labels declared and undeclared, the
    undeclared ones first seen in either half, in another order than declared."""
    rng = random.Random(seed)
    pool = ["weed", "crop", "zebra", "ant", "moss"]
    images = []
    for i in range(n):
        label = pool[rng.randrange(len(pool))] if i > 3 else ("ant" if i < 2 else "weed")
        extra = ""
        if i % 3 == 0:
            extra += f'<polygon label="{pool[(i // 3) % 5]}" points="0,0;4,0;4,{1 + i % 7}" ' \
                     f'z_order="{i % 4}"/>'
        if i % 5 == 0:
            extra += f'<box label="crop" occluded="0" xtl="{i % 9}.25" ytl="1" xbr="20" ' \
                     f'ybr="21.5" z_order="3"></box>'
        images.append(box_image(i, f"u/{i % 4}/img_{i:05d}.png", label,
                                subset=("Train", "Validation")[i % 2], extra=extra))
    if n > 20:
        images.insert(n - 5, images[n - 7])  # a duplicate with identical content, late
    return cvat_xml(images, ("weed", "crop"))


def _snapshot(ann: Any) -> tuple[Any, ...]:
    b = ann.boxes
    return (ann.labels, ann.declared, dict(ann.warnings),
            [(k, v.xml_name, v.file_name, v.width, v.height, v.subset, v.b0, v.b1, v.shapes,
              v.xml_id) for k, v in ann.images.items()],
            list(b.x), list(b.y), list(b.w), list(b.h), list(b.label), list(b.flags),
            sorted(b.attrs.items()))


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "annotations.xml"
    p.write_text(text, encoding="utf-8")
    return p


@pytest.mark.parametrize("n", [8, 60, 401])
def test_two_halves_equal_one_parse(cvat: Any, tmp_path: Path, n: int) -> None:
    p = _write(tmp_path, _varied(n))
    halves = cvat.parse_halves(str(p), cvat.ALL_KINDS)
    assert halves is not None  # really parsed in two processes
    ann, _ = cvat.parse_xml(str(p), cvat.ALL_KINDS)
    assert _snapshot(halves) == _snapshot(ann)
    # and through the public function, "not declared" warnings included
    public = cvat.parse_cvat(p)
    assert _snapshot(public) == _snapshot(_one_process(cvat, p))
    assert public.warnings["label 'ant' is not declared in <meta> (appended)"] == 1


def _one_process(cvat: Any, p: Path) -> Any:
    """parse_cvat as it runs without the split (the reference)."""
    import cvat_parallel

    saved = cvat_parallel.PARALLEL_MIN_BYTES
    cvat_parallel.PARALLEL_MIN_BYTES = 1 << 60
    try:
        return cvat.parse_cvat(p)
    finally:
        cvat_parallel.PARALLEL_MIN_BYTES = saved


def _unsure(case: str) -> bytes:
    text = _varied(80)
    mid = len(text) // 2
    if case == "comment-at-the-cut":  # whole images around the middle commented out
        a = text.rindex("<image ", 0, mid - 300)
        b = text.index("</image>", mid + 300) + len("</image>")
        text = text[:a] + "<!--" + text[a:b] + "-->" + text[b:]
    elif case == "cdata-at-the-cut":  # the first "</image>" after the middle is CDATA text
        i = text.index('<attribute name="a">', mid - 400) + len('<attribute name="a">')
        text = text[:i] + "<![CDATA[" + "x" * 4000 + " </image> ]]>" + text[i:]
    elif case == "latin-1":
        text = text.replace('encoding="utf-8"', 'encoding="ISO-8859-1"').replace(
            "img_00070", "img_\u00e90070")
        return text.encode("latin-1")
    elif case == "duplicate-across-halves":  # identical: merged with a warning
        first = text.index("<image ")
        dup = text[first:text.index("</image>", first) + len("</image>")]
        text = text.replace("</annotations>", dup + "</annotations>")
    elif case == "conflicting-duplicate-across-halves":
        first = text.index("<image ")
        dup = text[first:text.index("</image>", first) + len("</image>")]
        text = text.replace("</annotations>", dup.replace('width="32"', 'width="33"')
                            + "</annotations>")
    elif case == "meta-in-second-half":
        text = text.replace("</annotations>", "<meta><task><id>2</id></task></meta>"
                            "</annotations>")
    return text.encode("utf-8")


@pytest.mark.parametrize("case", [
    "comment-at-the-cut", "cdata-at-the-cut", "latin-1", "duplicate-across-halves",
    "conflicting-duplicate-across-halves", "meta-in-second-half"])
def test_unsure_splits_go_to_the_one_process_parse(cvat: Any, tmp_path: Path, case: str) -> None:
    p = tmp_path / "annotations.xml"
    p.write_bytes(_unsure(case))
    assert cvat.parse_halves(str(p), cvat.ALL_KINDS) is None
    try:
        reference = _one_process(cvat, p)
    except cvat.CvatError as exc:
        assert case in ("conflicting-duplicate-across-halves", "meta-in-second-half"), exc
        with pytest.raises(cvat.CvatError) as got:
            cvat.parse_cvat(p)
        assert str(got.value) == str(exc)
        return
    assert case not in ("conflicting-duplicate-across-halves", "meta-in-second-half")
    assert _snapshot(cvat.parse_cvat(p)) == _snapshot(reference)
    if case == "latin-1":
        assert "img_\u00e90070.png" in reference.images
    if case == "duplicate-across-halves":
        assert reference.warnings[
            "duplicate <image> entries with identical annotations (merged)"] == 2


@pytest.mark.parametrize("bad", [
    ('xtl="1.5"', 'xtl="nan-ish"'),
    ("</image>", '</image><track id="1" label="weed"></track>'),
    ('name="u/1/img_00061.png"', 'name="../../etc/img_00061.png"'),
])
def test_an_error_in_the_second_half_reads_as_in_one_process(
        cvat: Any, tmp_path: Path, bad: tuple[str, str]) -> None:
    text = _varied(80)
    cut = len(text) // 2
    i = text.find(bad[0], cut + 200)
    assert i > 0
    text = text[:i] + bad[1] + text[i + len(bad[0]):]
    p = _write(tmp_path, text)
    with pytest.raises(cvat.CvatError) as one:
        cvat.parse_xml(str(p), cvat.ALL_KINDS)
    with pytest.raises(cvat.CvatError) as two:
        cvat.parse_cvat(p)
    assert str(two.value) == str(one.value)


def test_small_files_and_one_cpu_stay_in_one_process(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import cvat_dataset

    p = _write(tmp_path, _varied(60))
    assert cvat_dataset.parse_halves(str(p), cvat_dataset.ALL_KINDS) is None  # small
    monkeypatch.setattr("cvat_parallel.PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr("cvat_parallel.usable_cpus", lambda: 1)
    assert cvat_dataset.parse_halves(str(p), cvat_dataset.ALL_KINDS) is None
    monkeypatch.setattr("cvat_parallel.usable_cpus", lambda: 2)
    monkeypatch.setenv("TC_PARSE_PARALLEL", "0")
    assert cvat_dataset.parse_halves(str(p), cvat_dataset.ALL_KINDS) is None


def test_unlabelled_shapes_are_counted_not_classes_in_both_modes(cvat: Any,
                                                                 tmp_path: Path) -> None:
    """``label=""`` (CVAT's unlabelled shape; datumaro's task export has two): no label, no
    shape, one counted warning each, in either half of a two-process parse as in one."""
    unlabelled = ('<box label="" xtl="1" ytl="1" xbr="3" ybr="3"><attribute name="a">x'
                  '</attribute></box><polygon label="" points="1,2;3,4;6,5"/><tag label=""/>'
                  '<mask label="" rle="1, 2" left="0" top="0" width="2" height="2"/>')
    images = [box_image(i, f"{i}.png", "weed", extra=unlabelled if i in (1, 30) else "")
              for i in range(40)]
    p = _write(tmp_path, cvat_xml(images))
    halves = cvat.parse_halves(str(p), cvat.ALL_KINDS)
    assert halves is not None
    for ann in (halves, _one_process(cvat, p)):
        assert ann.labels == ["weed", "crop"]
        assert ann.warnings == {"shapes with an empty label (not training objects)": 8}
        assert len(ann.boxes) == 40
        assert ann.images["1.png"].shapes == [("tag", 0, None, False, 0, None)]
    assert _snapshot(halves) == _snapshot(_one_process(cvat, p))


def test_the_real_cvat_file_parses_the_same_in_both_modes(cvat: Any) -> None:
    """cgras_cvat_masks (a real CVAT 1.1 export, 273 masks whose RLEs leave out their
    trailing 0s): the same annotations in one and two processes, and every mask decodes."""
    p = Path(__file__).parents[2] / "fixtures" / "realdata" / "cgras_cvat_masks" / \
        "annotations.xml"
    halves = cvat.parse_halves(str(p), cvat.ALL_KINDS)
    assert halves is not None
    one = _one_process(cvat, p)
    assert _snapshot(halves) == _snapshot(one)
    masks = [(s[2], img) for img in one.images.values() for s in img.shapes or ()
             if s[0] == "mask"]
    assert len(masks) == 273
    short = 0
    for (left, top, w, h, rle), img in masks:
        short += sum(int(c) for c in rle.split(",")) < w * h
        box, area = cvat.mask_pixel_box(left, top, w, h, rle, img.width, img.height)
        assert area > 0 and box[2] <= w and box[3] <= h
    assert short > 0
