"""Write a planned ZIP reproducibly and atomically; where it goes."""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tcli.contract import ZIP_NAME
from tcli.errors import InputError
from tcli.packaging.plan import Entry
from tcli.project import Project, TemplateRef
from tcli.safety import atomic

ZIP_DATE = (1980, 1, 1, 0, 0, 0)
COMPRESS_LEVEL = 9


@dataclass
class Packaged:
    """A written ZIP."""

    template: str
    path: Path
    sha256: str
    size: int
    file_count: int


def _zipinfo(entry: Entry) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(entry.arcname, date_time=ZIP_DATE)
    info.create_system = 3  # unix: keep the permission bits
    if entry.source is None:
        info.external_attr = ((0o040000 | entry.mode) << 16) | 0x10
        info.compress_type = zipfile.ZIP_STORED
    else:
        info.external_attr = (0o100000 | entry.mode) << 16
        info.compress_type = zipfile.ZIP_DEFLATED
    return info


def write_zip(entries: list[Entry], out: Path,
              check: Callable[[Path], None] | None = None) -> Packaged:
    """Write ``entries`` to ``out`` atomically (temp file in the same folder + rename).

    ``check`` (e.g. ``--verify``) runs on the finished temp file before the rename; when it
    raises, the temp file is removed and a previous ``out`` is left as it was."""
    for parent in (out.parent, *out.parent.parents):
        if parent.exists() or parent.is_symlink():
            if not parent.is_dir():
                raise InputError(f"{out}: cannot write the ZIP: {parent} is not a folder",
                                 "pass -o a ZIP path in a folder (or a folder)")
            break
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise atomic.os_error(out, exc, "cannot write the ZIP") from None
    with atomic.atomic_open(out, 0o644, check=check, action="cannot write the ZIP") as fh, \
            zipfile.ZipFile(fh, "w") as zf:
        for entry in entries:
            info = _zipinfo(entry)
            if entry.source is None:
                zf.writestr(info, b"")
            else:
                try:
                    data = entry.source.read_bytes()
                except OSError as exc:
                    raise InputError(f"{entry.source}: cannot read ({exc.strerror})",
                                     "fix the file's permissions") from None
                zf.writestr(info, data, compresslevel=COMPRESS_LEVEL)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    return Packaged("", out, digest, out.stat().st_size,
                    sum(1 for e in entries if e.source is not None))


def output_path(project: Project, ref: TemplateRef, out: Path | None, all_templates: bool) -> Path:
    """Where the ZIP of ``ref`` goes (docs/package.md)."""
    if all_templates:
        base = out if out is not None else project.root / "dist"
        return base / ref.provider / ref.category / ref.architecture / ZIP_NAME
    if out is None:
        return project.root / "dist" / ZIP_NAME
    too_long = [part for part in out.parts if len(os.fsencode(part)) > 255]
    if too_long:
        raise InputError(f"-o: the name {too_long[0][:40]}... is too long "
                         f"({len(too_long[0])} characters; file systems allow 255 bytes)",
                         "pass -o a shorter ZIP path")
    if out.is_dir() or out.suffix.lower() != ".zip":
        return out / ZIP_NAME
    return out
