"""Open a packaged ZIP safely: refuse unsafe members (zip-slip and friends), extract the rest."""

from __future__ import annotations

import copy
import os
import re
import zipfile
from pathlib import Path

from tcli.contract import DEFAULT_MAX_FILE_SIZE, PUBLISH_DIR
from tcli.errors import InputError
from tcli.safety.confine import clean_member_name, is_inside
from tcli.safety.zipread import CHUNK, MEMBER_ERRORS, ZipLimits, ZipRefused, member_kind
from tcli.units import human_bytes
from tcli.validate.context import Tree, zip_tree
from tcli.validate.report import Finding

#: Member count and total inflated bytes of an upload (the per-member limit is max_file_size).
LIMITS = ZipLimits()


def unsafe_member_reason(info: zipfile.ZipInfo) -> str | None:
    """Why extracting ``info`` would be unsafe (zip-slip and friends), or None."""
    name = info.filename
    if not name or "\x00" in name:
        return "empty or NUL in the name"
    if "\\" in name:
        return "backslash in the name"
    if name.startswith("/") or re.match(r"[A-Za-z]:", name):
        return "absolute path"
    if any(part == ".." for part in name.split("/")):
        return "'..' escapes the extraction folder (zip-slip)"
    if clean_member_name(name.rstrip("/")) is None:
        return "empty or '.' path segment ('//' or '/./')"
    return None


def _stream(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, cap: int,
            ) -> tuple[str | None, int]:
    """Inflate ``info`` into ``target`` in chunks, counting the bytes that really come out.

    Stops at ``cap`` bytes or as soon as the data outgrows the size its header claims (a
    lying header is how a small-looking member inflates to gigabytes). Returns the problem
    (None when fine) and the bytes written."""
    probe = copy.copy(info)
    probe.file_size = max(info.file_size, cap) + 1  # let the stream run past a lying header
    written = 0
    with zf.open(probe) as src, target.open("wb") as dst:
        while chunk := src.read(CHUNK):
            written += len(chunk)
            if written > info.file_size:
                return (f"inflates to more than the {info.file_size} bytes its header claims "
                        f"(a ZIP bomb?)", written)
            if written > cap:
                return (f"inflates to more than {human_bytes(cap, 'MB')} (size limit)", written)
            dst.write(chunk)
    return None, written


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
                problem, written = _stream(zf, info, target, cap)
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
            if problem:
                target.unlink(missing_ok=True)
                add("zip.inflates", name, problem, "rebuild the ZIP with 'tc package'")
                if total >= LIMITS.max_total_bytes:
                    break
                continue
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                os.chmod(target, mode | 0o600)
    return findings, zip_tree(dest)
