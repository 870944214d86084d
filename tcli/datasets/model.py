"""What every reader produces and every writer consumes.

A :class:`Source` declares its labels up front (in the source's order) and yields one
:class:`Record` per image, so writers stream: only one image's shapes are in memory at a time
(the COCO reader keeps its annotations in flat arrays, see :mod:`tcli.datasets.coco`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: (name, value) pairs of a shape's attributes
Attrs = tuple[tuple[str, str], ...]


@dataclass(slots=True)
class Shape:
    """One annotation.

    ``kind`` is ``box`` (data = (xtl, ytl, xbr, ybr)), ``polygon`` (flat [x1, y1, x2, y2, ...]),
    ``mask`` (data = (left, top, width, height, runs) with CVAT runs: row-major over the
    box, starting with a run of 0s) or ``tag`` (data None). ``label`` indexes Source.labels.
    """

    kind: str
    label: int
    data: Any
    occluded: bool = False
    z_order: int = 0
    attrs: Attrs = ()
    group: int = 0
    rotation: float = 0.0


@dataclass(slots=True)
class Record:
    """One image: where its file is (absolute, inside SRC) and what is annotated on it."""

    path: str | Path  # a str on the fast paths (pathlib objects cost more than the work)
    rel: str  # path relative to SRC, with '/', used for naming and messages
    width: int
    height: int
    shapes: list[Shape]
    subset: str | None = None
    #: a CVAT source: the original ``<image>`` element (lxml), written back with only its
    #: ``id`` and ``name`` replaced, so nothing CVAT carries is lost
    raw_xml: Any = None
    #: plain boxes already as CVAT lines (a reader's fast path for import) and their number
    box_xml: str = ""
    box_count: int = 0
    #: annotated, but the file is not there (counted in the losses; never imported)
    missing: bool = False


@dataclass
class Losses:
    """What could not be carried into CVAT: counted, with up to 3 examples per kind."""

    counts: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def add(self, what: str, example: str | None = None, n: int = 1) -> None:
        self.counts[what] += n
        if example is not None:
            ex = self.examples.setdefault(what, [])
            if len(ex) < 3:
                ex.append(example)

    def as_dict(self) -> dict[str, Any]:
        return {k: {"count": v, "examples": self.examples.get(k, [])}
                for k, v in sorted(self.counts.items())}


@dataclass
class Source:
    """A parsed source: format, labels (source order), attribute names per label, records."""

    format: str
    root: Path
    labels: list[str]
    records: Callable[[], Iterator[Record]]
    losses: Losses = field(default_factory=Losses)
    #: label index -> attribute names seen (declared in <meta>); filled while reading
    label_attrs: dict[int, list[str]] = field(default_factory=dict)
    #: a CVAT source: the <meta> element as bytes (copied verbatim)
    raw_meta: bytes | None = None
    #: files under SRC that are images but no record refers to (filled by the reader)
    unreferenced: list[str] = field(default_factory=list)
    note: str = ""
    #: annotations the source holds (filled by the reader while reading): an import that
    #: carries none of them fails instead of writing a dataset without labels
    annotated: int = 0
    #: set by the importer: readers may hand plain boxes over as CVAT lines (Record.box_xml)
    prerender: bool = False

    def note_attr(self, label: int, name: str) -> None:
        names = self.label_attrs.setdefault(label, [])
        if name not in names:
            names.append(name)
