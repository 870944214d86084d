"""Property test of the in-image CVAT parser (issue 21, item 4): any label, attribute value and
file name — ampersands, quotes, ``<>``, character references, unicode, whitespace — written by
a standard XML writer (``xml.etree.ElementTree``) parses back exactly as an XML library
reads it (``xml.etree`` is the oracle: it also applies XML's own normalisations, e.g. a tab in
an attribute value becomes a space), in the one-process parse, the two-process parse and
through ``parse_cvat``. Random but seeded (no hypothesis here): each seed is one file with
many images, so a failure names its seed and is reproducible.
"""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

#: pieces the strings are built from: markup characters, references written as text (they
#: must come back as the literal text), quotes, XML whitespace, non-ASCII (2-, 3- and 4-byte
#: UTF-8, a no-break space, a line separator), and plain letters
PIECES = ["a", "Z", "7", "_", ".", " ", "  ", "\t", "\n", "\r\n", "&", "<", ">", '"', "'",
          "&amp;", "&#38;", "&lt;", "]]>", ";", "#", "é", "ß", "漢字", "😀", "\u00a0", "\u2028",
          "weeds & grasses", "<b>", "=", "%", "\\"]


def _text(rng: random.Random, lo: int = 1, hi: int = 6) -> str:
    return "".join(rng.choice(PIECES) for _ in range(rng.randint(lo, hi)))


def _document(rng: random.Random, n_images: int) -> ET.ElementTree:
    labels = list(dict.fromkeys("L" + _text(rng) for _ in range(6)))
    root = ET.Element("annotations")
    ET.SubElement(root, "version").text = "1.1"
    labs = ET.SubElement(ET.SubElement(ET.SubElement(root, "meta"), "task"), "labels")
    for name in labels:
        lab = ET.SubElement(labs, "label")
        ET.SubElement(lab, "name").text = name
    for i in range(n_images):
        # a unique, relative, single-component name (a '/' or '..' is refused by design)
        name = f"{i:04d}" + _text(rng, 0, 5).replace("/", "_").replace("\\", "_") + ".jpg"
        img = ET.SubElement(root, "image", id=str(i), name=name, width="64", height="48")
        for kind in rng.sample(["box", "polygon", "tag", "box"], rng.randint(1, 4)):
            attrs = {"label": rng.choice(labels), "occluded": "0", "z_order": "0"}
            if kind == "box":
                attrs |= {"xtl": "1", "ytl": "2", "xbr": "10.5", "ybr": "20"}
            elif kind == "polygon":
                attrs["points"] = "0,0;5,0;5,5"
            shape = ET.SubElement(img, kind, attrs)
            for k in range(rng.randint(0, 2)):
                ET.SubElement(shape, "attribute", name=f"attr{k}").text = _text(rng, 0, 6)
    return ET.ElementTree(root)


def _oracle(path: Path) -> dict[str, list[tuple[str, str, tuple[tuple[str, str], ...]]]]:
    """Per image name: (kind, label, attributes) of its shapes, boxes first, as xml.etree
    reads them."""
    out: dict[str, list[tuple[str, str, tuple[tuple[str, str], ...]]]] = {}
    for img in ET.parse(path).getroot().iter("image"):
        shapes = [(s.tag, s.attrib["label"],
                   tuple((a.attrib["name"], a.text or "") for a in s.findall("attribute")))
                  for s in img]
        out[img.attrib["name"]] = ([s for s in shapes if s[0] == "box"]
                                   + [s for s in shapes if s[0] != "box"])
    return out


def _parsed(ann: Any) -> dict[str, list[tuple[str, str, tuple[tuple[str, str], ...]]]]:
    out: dict[str, list[tuple[str, str, tuple[tuple[str, str], ...]]]] = {}
    b = ann.boxes
    for file_name, img in ann.images.items():
        assert file_name == img.xml_name  # single-component names: the same string
        shapes = [("box", ann.labels[b.label[k]], tuple(b.attrs.get(k, ()))) for k in
                  range(img.b0, img.b1)]
        shapes += [(s[0], ann.labels[s[1]], tuple(s[5] or ())) for s in img.shapes or ()]
        out[img.xml_name] = shapes
    return out


@pytest.fixture()
def cvat(monkeypatch: pytest.MonkeyPatch) -> Any:
    import cvat_dataset

    monkeypatch.setattr("cvat_parallel.PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr("cvat_parallel.usable_cpus", lambda: 2)
    return cvat_dataset


@pytest.mark.parametrize("seed", range(6))
def test_any_text_parses_back_as_an_xml_library_reads_it(cvat: Any, tmp_path: Path,
                                                         seed: int) -> None:
    path = tmp_path / "annotations.xml"
    _document(random.Random(seed), 60).write(path, encoding="utf-8", xml_declaration=True)
    want = _oracle(path)
    assert any("&" in n or "<" in n for n in want)  # the property is really exercised
    one, _ = cvat.parse_xml(str(path), cvat.ALL_KINDS)
    assert _parsed(one) == want
    halves = cvat.parse_halves(str(path), cvat.ALL_KINDS)
    assert halves is not None  # really parsed in two processes
    assert _parsed(halves) == want
    assert _parsed(cvat.parse_cvat(path)) == want
