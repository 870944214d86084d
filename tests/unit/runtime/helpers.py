"""Synthetic CVAT datasets for the runtime tests: the names this folder's tests import, from the
suite's one CVAT builder (tests/cvat.py)."""

from __future__ import annotations

from tests.cvat import box_image, cvat_xml, image
from tests.cvat import write_dataset as make_dataset

__all__ = ["box_image", "cvat_xml", "image", "make_dataset"]
