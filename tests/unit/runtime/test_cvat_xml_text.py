"""CVAT parser: text comes back exactly as an XML library reads it, in both parse modes.

The oracle is the standard library's ElementTree (expat), an XML reader independent of the
libxml2 that the runtime parser uses: whatever xml.etree or lxml writes — ampersands, quotes,
``<>``, character references, unicode, tabs and newlines in attribute values — must come back
from ``parse_cvat`` as ElementTree reads it. A truncated file (an interrupted upload) is named
as malformed or truncated at every cut, never as a missing label or coordinate.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .helpers import box_image, cvat_xml


@pytest.fixture(params=["one process", "two processes"])
def cvat(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The parser module; in "two processes" mode every file takes the forked split (and the
    test checks that it did, not the one-process fallback)."""
    import cvat_dataset

    calls: list[bool] = []
    if request.param == "two processes":
        monkeypatch.setattr("cvat_parallel.PARALLEL_MIN_BYTES", 0)
        monkeypatch.setattr("cvat_parallel.usable_cpus", lambda: 2)
        real = cvat_dataset.parse_halves

        def spy(spath: str, keep: Any) -> Any:
            out = real(spath, keep)
            calls.append(out is not None)
            return out

        monkeypatch.setattr(cvat_dataset, "parse_halves", spy)
    else:
        monkeypatch.setattr("cvat_parallel.PARALLEL_MIN_BYTES", 1 << 60)
    cvat_dataset.split_calls = calls  # type: ignore[attr-defined]
    return cvat_dataset


def _xml_char(c: str) -> bool:
    o = ord(c)
    return c in "\t\n\r" or 0x20 <= o <= 0xD7FF or 0xE000 <= o <= 0xFFFD or o >= 0x10000


SPECIAL = [*"&<>\"'\t\n\r ;#x", "&amp;", "&#38;", "&#x26;", "&lt;", "]]>", "é", "雑草", "\u00a0", "🌱"]
TEXT = st.lists(st.one_of(st.sampled_from(SPECIAL),
                          st.characters(exclude_categories=("Cs",)).filter(_xml_char)),
                max_size=12).map("".join)
NAME_PART = TEXT.map(lambda t: t.replace("/", "_").replace("\\", "_"))


def _file_name(i: int, t: str) -> str:
    name = f"{i}{t}.jpg"  # unique per image, never "." or ".."
    return name


def _build(writer: str, labels: list[str], names: list[str], values: list[str],
           attr_names: list[str], subset: str) -> bytes:
    """A CVAT task export written by the XML library ``writer`` (no hand-made escaping)."""
    if writer == "lxml":
        from lxml import etree as lib
    else:
        lib = ET  # type: ignore[assignment]
    root = lib.Element("annotations")
    lib.SubElement(root, "version").text = "1.1"
    labels_el = lib.SubElement(lib.SubElement(lib.SubElement(root, "meta"), "task"), "labels")
    for lab in labels:
        lib.SubElement(lib.SubElement(labels_el, "label"), "name").text = lab
    for i, name in enumerate(names):
        lab = labels[i % len(labels)]
        img = lib.SubElement(root, "image", {"id": str(i), "name": f"user/7/{name}",
                                             "width": "64", "height": "48", "subset": subset})
        box = lib.SubElement(img, "box", {"label": lab, "xtl": "1", "ytl": "2", "xbr": "9",
                                          "ybr": "8", "occluded": "0", "z_order": "0"})
        a = lib.SubElement(box, "attribute", {"name": attr_names[i % len(attr_names)]})
        a.text = values[i % len(values)]
        poly = lib.SubElement(img, "polygon", {"label": labels[-1 - i % len(labels)],
                                               "points": "1,1;9,1;9,9", "occluded": "1"})
        b = lib.SubElement(poly, "attribute", {"name": attr_names[-1]})
        b.text = values[-1 - i % len(values)]
        lib.SubElement(img, "tag", {"label": lab})
    out: bytes = lib.tostring(root, encoding="utf-8")
    if not out.startswith(b"<?xml"):
        out = b'<?xml version="1.0" encoding="utf-8"?>\n' + out
    return out


def _oracle(data: bytes) -> dict[str, Any]:
    """What ElementTree reads: labels (as the runtime orders them), per file name the
    subset, the box's (label, attributes), the polygon's (label, attributes), the tag."""
    root = ET.fromstring(data)
    labels: list[str] = []
    for n in root.iter("name"):
        name = (n.text or "").strip()
        if name and name not in labels:
            labels.append(name)
    images = {}
    for img in root.iter("image"):
        shapes = []
        for el in img:
            attrs = tuple((a.get("name") or "", a.text or "") for a in el.iter("attribute"))
            shapes.append((el.tag, el.get("label"), attrs or None))
        for _tag, lab, _a in shapes:
            if lab not in labels:
                labels.append(lab)  # type: ignore[arg-type]
        images[img.get("name", "").rsplit("/", 1)[-1]] = (img.get("name"), img.get("subset"),
                                                          shapes)
    return {"labels": labels, "images": images}


def _read(cvat: Any, path: Path) -> dict[str, Any]:
    ann = cvat.parse_cvat(path)
    images = {}
    for file_name, img in ann.images.items():
        shapes = [("box", ann.labels[ann.boxes.label[k]], ann.boxes.attrs.get(k))
                  for k in range(img.b0, img.b1)]
        shapes += [(kind, ann.labels[lab], extra)
                   for kind, lab, _d, _o, _z, extra, *_ in img.shapes or ()]
        images[file_name] = (img.xml_name, img.subset, shapes)
    return {"labels": ann.labels, "images": images}


@pytest.mark.parametrize("writer", ["etree", "lxml"])
@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(labels=st.lists(TEXT.filter(lambda t: t.strip() != ""), min_size=1, max_size=4,
                       unique_by=str.strip),
       names=st.lists(NAME_PART, min_size=4, max_size=8),
       values=st.lists(TEXT, min_size=1, max_size=4),
       attr_names=st.lists(TEXT, min_size=1, max_size=3),
       subset=TEXT)
def test_any_text_written_by_an_xml_library_parses_back_identically(
        cvat: Any, tmp_path: Path, writer: str, labels: list[str], names: list[str],
        values: list[str], attr_names: list[str], subset: str) -> None:
    labels = [lab.strip() for lab in labels]  # a declared label is its stripped <name>
    names = [_file_name(i, n) for i, n in enumerate(names)]
    data = _build(writer, labels, names, values, attr_names, subset)
    path = tmp_path / "annotations.xml"
    path.write_bytes(data)
    calls: list[bool] = cvat.split_calls
    calls.clear()
    got = _read(cvat, path)
    assert got == _oracle(data)
    assert all(calls), "the two-process mode fell back to the one-process parse"


def test_the_issue_examples(cvat: Any, tmp_path: Path) -> None:
    """``weeds &amp; grasses`` is ``weeds & grasses`` (it was ``weeds &#38; grasses``),
    in attribute values, labels and file names, with every kind of reference."""
    img = ('<image id="{i}" name="u/{i}a&amp;b&#38;c&#x26;d&lt;&quot;&apos;.png" width="5" '
           'height="5" subset="Tr&amp;in"><box label="weeds &amp; grasses" xtl="0" ytl="0" '
           'xbr="1" ybr="1"><attribute name="kind &#38; sort">weeds &amp; grasses &#x26; '
           '&lt;x&gt;</attribute></box><tag label="a&quot;b&apos;c"/></image>')
    path = tmp_path / "annotations.xml"
    path.write_text(cvat_xml([img.format(i=i) for i in range(6)],
                               ("weeds &amp; grasses", "a&quot;b&apos;c")))
    ann = cvat.parse_cvat(path)
    assert ann.labels == ["weeds & grasses", "a\"b'c"]
    first = ann.images["0a&b&c&d<\"'.png"]
    assert first.xml_name == "u/0a&b&c&d<\"'.png" and first.subset == "Tr&in"
    assert ann.boxes.attrs[first.b0] == (("kind & sort", "weeds & grasses & <x>"),)
    assert not ann.warnings  # the box label is the declared one, not a new category


def _truncation_cases() -> tuple[bytes, list[int]]:
    extra = ('<polygon label="crop" points="1,1;5,1;5,5" occluded="0"><attribute name="x">y'
             '</attribute></polygon><mask label="weed" left="1" top="1" width="2" height="2" '
             'rle="1,2,1"/>')
    data = cvat_xml([box_image(i, f"u/{i}.png", "weed", extra=extra) for i in range(2)]).encode()
    complete = len(data.rstrip())
    return data, list(range(1, complete))


def test_a_truncated_file_is_named_as_such_at_every_cut(cvat: Any, tmp_path: Path) -> None:
    data, cuts = _truncation_cases()
    path = tmp_path / "annotations.xml"
    wrong: dict[int, str] = {}
    for cut in cuts:
        path.write_bytes(data[:cut])
        try:
            cvat.parse_cvat(path)
            wrong[cut] = "parsed"
        except cvat.CvatError as exc:
            msg = str(exc)
            if "malformed or truncated (line " not in msg or "re-export" not in msg:
                wrong[cut] = msg
    assert not wrong, f"{len(wrong)} of {len(cuts)} cuts misreported, e.g. " \
        f"{next(iter(wrong.items()))}"


def test_the_truncation_line_is_the_last_line(cvat: Any, tmp_path: Path) -> None:
    path = tmp_path / "annotations.xml"
    lines = cvat_xml([box_image(i, f"{i}.png", "weed") for i in range(3)]).replace(
        "<image", "\n<image").splitlines(keepends=True)
    path.write_text("".join(lines[:3]) + '<image id="9" name="9.png"><box xtl="1" ')
    with pytest.raises(cvat.CvatError, match=r"malformed or truncated \(line 4, column"):
        cvat.parse_cvat(path)
