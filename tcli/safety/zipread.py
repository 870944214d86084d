"""ZIP reading that counts the bytes it really inflates, against limits.

A member's header may claim 1000 bytes and inflate to 1 GiB; only the bytes that come out of
the decompressor count. :func:`extract` checks the member count, each member's name
(:func:`tcli.safety.confine.clean_member_name`), its type (no symlinks, devices or FIFOs),
then streams every member in chunks, stopping at the first of: the per-member limit, the total
limit, or a compression ratio above ``max_ratio`` once past ``ratio_floor`` bytes. Nothing is
held in memory beyond one chunk, and a refused archive leaves no partial member behind.

``tc validate --zip`` (:mod:`tcli.validate.upload`) reports members instead of refusing the
archive, with the same checks: :func:`unsafe_member_reason`, :func:`member_kind` and
:func:`inflate_capped` (the bytes that really come out, against a lying header and a cap).
"""

from __future__ import annotations

import copy
import re
import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tcli.errors import InputError
from tcli.safety.confine import clean_member_name

CHUNK = 1 << 16


class ZipRefused(InputError):
    """An archive tc will not unpack (exit 2)."""


@dataclass(frozen=True)
class ZipLimits:
    """Limits for one archive (defaults suit a train-container upload: a few MB of text)."""

    max_members: int = 2000
    max_member_bytes: int = 10 * 1024 * 1024
    max_total_bytes: int = 200 * 1024 * 1024
    max_ratio: float = 200.0
    ratio_floor: int = 1024 * 1024


def member_kind(info: zipfile.ZipInfo) -> str | None:
    """What makes a member more than a plain file or folder (its Unix mode bits), or None:
    a symlink, a device/FIFO/socket, or a file with the setuid/setgid bit. Used by every ZIP
    reader of tc (``tc validate --zip`` too)."""
    mode = info.external_attr >> 16
    if not mode or info.create_system != 3:  # not made on Unix: no type bits to trust
        return None
    if stat.S_ISLNK(mode):
        return "a symlink"
    if stat.S_IFMT(mode) not in (0, stat.S_IFDIR, stat.S_IFREG):  # 0: permission bits only
        return "a special file (device, FIFO or socket)"
    if mode & (stat.S_ISUID | stat.S_ISGID):
        return "a file with the setuid/setgid bit"
    return None


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


def inflate_capped(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, cap: int,
                   ) -> tuple[Literal["header", "cap"] | None, int]:
    """Inflate ``info`` into ``target`` in chunks, counting the bytes that really come out.

    Stops at ``cap`` bytes or as soon as the data outgrows the size its header claims (a
    lying header is how a small-looking member inflates to gigabytes). Returns why it stopped
    (``"header"``: past the header's size, ``"cap"``: past ``cap``; None when complete) and
    the bytes written."""
    probe = copy.copy(info)
    probe.file_size = max(info.file_size, cap) + 1  # let the stream run past a lying header
    written = 0
    with zf.open(probe) as src, target.open("wb") as dst:
        while chunk := src.read(CHUNK):
            written += len(chunk)
            if written > info.file_size:
                return "header", written
            if written > cap:
                return "cap", written
            dst.write(chunk)
    return None, written


#: Errors a damaged member raises while it is inflated (zlib's own included).
MEMBER_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError,
                 ValueError)


def check_names(zf: zipfile.ZipFile, label: str, limits: ZipLimits) -> list[zipfile.ZipInfo]:
    """The archive's members after the count, name and type checks (ZipRefused otherwise)."""
    infos = zf.infolist()
    if len(infos) > limits.max_members:
        raise ZipRefused(f"{label}: {len(infos)} members, more than {limits.max_members}",
                         "package only the project's files")
    seen: set[str] = set()
    for info in infos:
        if clean_member_name(info.filename.rstrip("/") or "/") is None:
            raise ZipRefused(f"{label}: member {info.filename!r} has an unsafe path",
                             "members must be relative paths without '..'")
        key = info.filename.rstrip("/").casefold()
        if key in seen:
            raise ZipRefused(f"{label}: member {info.filename!r} appears twice",
                             "repackage it with tc package")
        seen.add(key)
        kind = member_kind(info)
        if kind:
            raise ZipRefused(f"{label}: member {info.filename!r} is {kind}",
                             "store the file itself, not a link")
    return infos


def extract(zip_path: Path, dest: Path, limits: ZipLimits | None = None) -> list[Path]:
    """Unpack ``zip_path`` into the existing folder ``dest`` with real byte counting."""
    limits = limits or ZipLimits()
    label = str(zip_path)
    out: list[Path] = []
    try:
        zf = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ZipRefused(f"{label}: not a readable ZIP file ({exc})",
                         "give the ZIP tc package made") from None
    total = 0
    with zf:
        infos = check_names(zf, label, limits)
        for info in infos:
            target = dest / info.filename
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            written = 0
            try:
                with zf.open(info) as src, target.open("wb") as dst:
                    while chunk := src.read(CHUNK):
                        written += len(chunk)
                        total += len(chunk)
                        if written > limits.max_member_bytes:
                            raise ZipRefused(
                                f"{label}: member {info.filename} inflates to more than "
                                f"{limits.max_member_bytes} bytes", "keep large files out of the ZIP")
                        if total > limits.max_total_bytes:
                            raise ZipRefused(f"{label}: inflates to more than {limits.max_total_bytes} bytes",
                                             "keep large files out of the ZIP")
                        if written > limits.ratio_floor and \
                                written > limits.max_ratio * max(info.compress_size, 1):
                            raise ZipRefused(
                                f"{label}: member {info.filename} inflates more than "
                                f"{limits.max_ratio:g} times its compressed size (a ZIP bomb?)",
                                "repackage it with tc package")
                        dst.write(chunk)
            except ZipRefused:
                target.unlink(missing_ok=True)
                raise
            except MEMBER_ERRORS as exc:
                target.unlink(missing_ok=True)
                raise ZipRefused(f"{label}: member {info.filename} cannot be read ({exc})",
                                 "repackage it with tc package") from None
            except OSError as exc:
                target.unlink(missing_ok=True)
                raise InputError(f"{target}: cannot write: {exc.strerror or exc}",
                                 "free some disk space or choose another folder") from None
            out.append(target)
    return out
