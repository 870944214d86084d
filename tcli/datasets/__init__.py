"""Bring any dataset into the platform's layout, and look at it.

Core package (no typer/rich): format readers (``coco``, ``yolo``, ``voc``, ``imagefolder``,
``cvat``) turn a source folder into :class:`~tcli.datasets.model.Source` (declared labels + a
stream of :class:`~tcli.datasets.model.Record`); :mod:`tcli.datasets.cvat_writer` streams them
into CVAT for images 1.1; :mod:`tcli.datasets.importer` writes the platform's MinIO layout
``DEST/datasets/<N>/`` (samples hard-linked or copied under flat, collision-free names, a
mapping file, the loss report); :mod:`tcli.datasets.inspect` computes statistics and problems;
:mod:`tcli.datasets.pictures` draws the PNG report. Bad input raises
:class:`tcli.errors.InputError` with one line naming the file and field.

Public entry points: :func:`tcli.datasets.importer.import_dataset`,
:func:`tcli.datasets.importer.ensure_platform_layout`, :func:`tcli.datasets.inspect.inspect`.
"""

from __future__ import annotations

FORMATS: tuple[str, ...] = ("coco", "yolo", "voc", "imagefolder", "cvat")
IMAGE_EXTS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
)
