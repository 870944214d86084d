# Managed by tc (`tc update` brings its new versions) — edit train.py instead.
"""Streaming, hardened reader of CVAT for images 1.1 annotations (task or project export).

Reads ``annotations.xml`` with lxml's target parser (callbacks per tag, no element tree),
entity resolution, DTD loading and network access disabled; any DOCTYPE is rejected before
parsing goes on (XXE, billion laughs). Boxes are kept in flat
arrays (about 50 bytes each), so memory grows only with the output itself.

Public API::

    ann = parse_cvat(path, keep={"box", "polygon", "mask", "tag"})
    ann.labels            # deterministic: <meta> order, then first appearance
    ann.images            # {file_name: CvatImage}
    ann.warnings          # Counter of counted warnings

The reader is split by concern (each module flat beside this one, as in the image):
``cvat_model`` (the data model, value checks), ``cvat_xml`` (the one-process parse),
``cvat_parallel`` (two processes for a large file), ``cvat_masks`` (RLE, mask and polygon
geometry). This module is the entry point and names the public API once.

Plain modules (stdlib + lxml + numpy for masks), usable on Python 3.10+.
"""

from __future__ import annotations

import os

from cvat_masks import (
    coco_rle,
    cvat_rle_to_coco,
    mask_array,
    mask_pixel_box,
    polygon_area,
    polygon_bbox,
    rle_counts,
)
from cvat_model import (
    ALL_KINDS,
    SHAPE_KINDS,
    BoxStore,
    CvatAnnotations,
    CvatError,
    CvatImage,
    safe_file_name,
)
from cvat_parallel import fork_run, may_fork, parse_halves, usable_cpus
from cvat_xml import parse_xml
from cvat_xmlsafe import prolog_check

__all__ = ["ALL_KINDS", "SHAPE_KINDS", "BoxStore", "CvatAnnotations", "CvatError", "CvatImage",
           "coco_rle", "cvat_rle_to_coco", "fork_run", "mask_array", "mask_pixel_box",
           "may_fork", "parse_cvat", "polygon_area", "polygon_bbox", "rle_counts",
           "safe_file_name", "usable_cpus"]


def parse_cvat(path: str | os.PathLike[str], keep: frozenset[str] | set[str] = ALL_KINDS
               ) -> CvatAnnotations:
    """Parse a CVAT for images 1.1 file, streaming.

    lxml's *target parser* calls back on every start and end tag: no element tree is built
    and nothing is cleared afterwards, which is what makes it faster than ``iterparse``.
    Text is collected only where it is used (``<attribute>`` values, label names).

    A large file (``PARALLEL_MIN_BYTES``) on a machine with two or more CPUs is parsed in
    two processes, split at an ``</image>`` near the middle (see :func:`parse_halves`); the
    result is the same as the one-process parse, which is used whenever the split is not
    certain to be equivalent (and for every error, so messages are the same).

    Args:
        path: the ``annotations.xml``.
        keep: shape kinds to keep; others are counted in ``warnings`` as skipped, and so
            are shapes with ``label=""`` (CVAT's unlabelled shape: no class, no object).

    Raises:
        CvatError: DOCTYPE/entities, malformed or truncated XML, wrong root, CVAT for video
            (``<track>``), unsafe image names, missing or bad coordinates, conflicting
            duplicate file names.
    """
    spath = os.fspath(path)
    if not os.path.isfile(spath):
        raise CvatError(f"{spath}: annotations file not found")
    prolog_check(spath)
    ann = parse_halves(spath, keep)
    if ann is None:
        ann, _ = parse_xml(spath, keep)
    for name in ann.labels[ann.declared:]:
        ann.warnings[f"label {name!r} is not declared in <meta> (appended)"] += 1
    return ann
