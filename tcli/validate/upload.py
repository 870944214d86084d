"""``tc validate --zip``: the uploaded ZIP's members as findings, the safe ones extracted.

The member checks themselves (unsafe names, special members, bytes really inflated) are the
defences of :mod:`tcli.safety.zipread`; this module turns what they refuse into findings."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from tcli.contract import DEFAULT_MAX_FILE_SIZE, PUBLISH_DIR
from tcli.errors import InputError
from tcli.safety.confine import is_inside
from tcli.safety.zipread import (
    MEMBER_ERRORS,
    ZipLimits,
    ZipRefused,
    inflate_capped,
    member_kind,
    unsafe_member_reason,
)
from tcli.units import human_bytes
from tcli.validate.context import Tree, zip_tree
from tcli.validate.findings import Finding

#: Member count and total inflated bytes of an upload (the per-member limit is max_file_size).
LIMITS = ZipLimits()


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
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise InputError(f"{zip_path}: not a readable ZIP file ({exc})",
                         "pass the file 'tc package' wrote") from None
    with zf:
        seen: set[str] = set()
        infos = zf.infolist()
        if len(infos) > LIMITS.max_members:
            raise ZipRefused(f"{zip_path}: {len(infos)} members, more than {LIMITS.max_members}",
                             "package only the project's files (tc package)")
        total = 0
        for info in infos:
            name = info.filename
            reason = unsafe_member_reason(info)
            if reason:
                add("zip.unsafe-name", name, f"unsafe member name: {reason}",
                    "rebuild the ZIP with 'tc package'")
                continue
            kind = member_kind(info)
            if kind:
                add("zip.unsafe-member", name, f"member is {kind}; the platform refuses it",
                    "rebuild the ZIP with 'tc package' (plain files only)")
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
            if not is_inside(target, dest):
                add("zip.unsafe-name", name, "unsafe member name: escapes the extraction folder",
                    "rebuild the ZIP with 'tc package'")
                continue
            cap = min(max_file_size, LIMITS.max_total_bytes - total)
            try:
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                stopped, written = inflate_capped(zf, info, target, cap)
            except MEMBER_ERRORS as exc:
                target.unlink(missing_ok=True)
                add("file.unreadable", name, f"cannot read member: {exc}",
                    "rebuild the ZIP with 'tc package'")
                continue
            except OSError as exc:  # a file and a folder of one name, a name too long, ...
                add("zip.unsafe-name", name, f"cannot extract member: {exc.strerror or exc}",
                    "rebuild the ZIP with 'tc package'")
                continue
            total += written
            if stopped:
                problem = (f"inflates to more than the {info.file_size} bytes its header claims "
                           f"(a ZIP bomb?)" if stopped == "header" else
                           f"inflates to more than {human_bytes(cap, 'MB')} (size limit)")
                target.unlink(missing_ok=True)
                add("zip.inflates", name, problem, "rebuild the ZIP with 'tc package'")
                if total >= LIMITS.max_total_bytes:
                    break
                continue
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                os.chmod(target, mode | 0o600)
    return findings, zip_tree(dest)
