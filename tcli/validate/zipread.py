"""Open a packaged ZIP safely: refuse unsafe members (zip-slip and friends), extract the rest."""

from __future__ import annotations

import os
import re
import stat
import zipfile
from pathlib import Path

from tcli.contract import DEFAULT_MAX_FILE_SIZE, PUBLISH_DIR
from tcli.errors import InputError
from tcli.units import human_bytes
from tcli.validate.context import Tree, zip_tree
from tcli.validate.report import Finding


def unsafe_member_reason(info: zipfile.ZipInfo) -> str | None:
    """Why extracting ``info`` would be unsafe (zip-slip and friends), or None."""
    name = info.filename
    if not name or "\x00" in name:
        return "empty or NUL in the name"
    if "\\" in name:
        return "backslash in the name"
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "absolute path"
    if any(part == ".." for part in name.split("/")):
        return "'..' escapes the extraction folder (zip-slip)"
    mode = info.external_attr >> 16
    if info.create_system == 3 and stat.S_ISLNK(mode):
        return "symbolic link"
    return None


def read_zip(zip_path: Path, dest: Path, *, max_file_size: int = DEFAULT_MAX_FILE_SIZE,
             ) -> tuple[list[Finding], Tree]:
    """Check the members of ``zip_path``, extract the safe ones into ``dest``.

    Raises InputError when the file is not a readable ZIP.
    """
    findings: list[Finding] = []

    def add(code: str, file: str, message: str, fix: str) -> None:
        findings.append(Finding("error", code, file, message, fix, target="zip"))

    try:
        zf = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"{zip_path}: not a readable ZIP file ({exc})",
                         "pass the file 'tc package' wrote") from None
    with zf:
        seen: set[str] = set()
        for info in zf.infolist():
            name = info.filename
            reason = unsafe_member_reason(info)
            if reason:
                add("zip.unsafe-name", name, f"unsafe member name: {reason}",
                    "rebuild the ZIP with 'tc package'")
                continue
            if name in seen:
                add("zip.duplicate", name, "member appears twice in the ZIP",
                    "rebuild the ZIP with 'tc package'")
                continue
            seen.add(name)
            if info.flag_bits & 0x1:
                add("zip.encrypted", name, "encrypted member", "upload an unencrypted ZIP")
                continue
            if not info.is_dir() and info.file_size > max_file_size:
                add("package.oversize", name,
                    f"{human_bytes(info.file_size, 'MB')} is over the "
                    f"{human_bytes(max_file_size, 'MB')} limit",
                    "keep large files (weights, data) out of the template")
                continue
            if name.split("/", 1)[0] != PUBLISH_DIR:
                add("zip.top-folder", name, f"member outside the top folder {PUBLISH_DIR}/",
                    "rebuild the ZIP with 'tc package'")
                continue
            target = dest.joinpath(*[p for p in name.split("/") if p])
            if not target.resolve().is_relative_to(dest.resolve()):
                add("zip.unsafe-name", name, "unsafe member name: escapes the extraction folder",
                    "rebuild the ZIP with 'tc package'")
                continue
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                data = zf.read(info)
            except (zipfile.BadZipFile, OSError, RuntimeError) as exc:
                add("file.unreadable", name, f"cannot read member: {exc}",
                    "rebuild the ZIP with 'tc package'")
                continue
            target.write_bytes(data)
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                os.chmod(target, mode | 0o600)
    return findings, zip_tree(dest)
