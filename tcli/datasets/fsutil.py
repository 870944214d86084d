"""File-system helpers: paths that must stay inside SRC, listing without following links,
hard-link-else-copy, flat collision-free names.

The confinement rule itself (resolve, then "inside the root") is :mod:`tcli.safety.confine`'s;
this module words its findings for a dataset (the file and field a path came from).
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

from tcli.errors import InputError
from tcli.safety import confine
from tcli.safety.confine import is_absolute_name, is_inside

from . import IMAGE_EXTS


def resolve_inside(root: Path, rel: str, where: str, shown: str | None = None) -> Path:
    """``root / rel`` resolved; InputError when it escapes ``root`` or loops.

    ``where`` names the file and field the path came from, ``shown`` the path as written
    there (both used in the message).
    """
    norm = rel.replace("\\", "/")
    if not norm or "\x00" in norm:
        raise InputError(f"{where}: empty or invalid path {rel!r}")
    if is_absolute_name(norm):
        raise InputError(f"{where}: absolute path {rel!r}; paths must be relative to {root}")
    cand = root / norm
    real = confine.resolve(cand, where, missing_ok=True)
    if not is_inside(real, root):
        raise InputError(f"{where}: path {shown if shown else repr(rel)} escapes the source folder {root}",
                         hint="keep images inside SRC (no '..', no links pointing outside)")
    return real


class InsideResolver:
    """:func:`resolve_inside` for many paths: folders are resolved once (cached), a file only
    when it is a symbolic link; the rest is string work. Returns the real path (a str), or
    None for a missing file."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root_s = str(root)
        self._dirs: dict[str, str] = {}

    def file(self, rel: str, where: str, shown: str | None = None) -> str | None:
        norm = rel.replace("\\", "/")
        if not norm or "\x00" in norm or is_absolute_name(norm):
            return str(resolve_inside(self.root, rel, where, shown))  # raises the message
        joined = os.path.normpath(os.path.join(self.root_s, norm))
        d, base = os.path.split(joined)
        real_d = self._dirs.get(d)
        if real_d is None:
            real = confine.resolve(Path(d), where, missing_ok=True)
            if not is_inside(real, self.root):
                raise InputError(f"{where}: path {shown if shown else repr(rel)} escapes the "
                                 f"source folder {self.root}",
                                 hint="keep images inside SRC (no '..', no links pointing "
                                      "outside)")
            real_d = self._dirs[d] = str(real)
        full = os.path.join(real_d, base)
        try:
            st = os.lstat(full)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise InputError(f"{where}: {full}: {exc.strerror}") from None
        if stat.S_ISREG(st.st_mode):
            return full
        if stat.S_ISLNK(st.st_mode):
            p = resolve_inside(self.root, os.path.relpath(full, self.root_s), where, shown)
            return str(p) if p.is_file() else None
        return None


def walk_rels(root: Path, skip: Path | None = None) -> Iterator[str]:
    """Relative posix paths of every regular, non-hidden file under ``root``, sorted, without
    following directory links. File links are checked: one that loops or points outside
    ``root`` raises InputError (named by its relative path)."""
    skip_s = str(skip) if skip is not None else None

    def walk(d: str, prefix: str) -> Iterator[str]:
        try:
            with os.scandir(d) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            raise InputError(f"{prefix or root}: cannot list the folder ({exc.strerror})"
                             ) from None
        subdirs = []
        for e in entries:
            if e.name.startswith("."):
                continue
            rel = prefix + e.name
            if e.is_symlink():
                real = confine.resolve(Path(e.path), rel)
                if not is_inside(real, root):
                    raise InputError(f"{rel}: symbolic link points outside the source folder "
                                     f"({real})")
                if real.is_file():
                    yield rel
            elif e.is_dir(follow_symlinks=False):
                if e.path != skip_s:
                    subdirs.append(e)
            elif e.is_file(follow_symlinks=False):
                yield rel
        for e in subdirs:
            yield from walk(e.path, prefix + e.name + "/")

    # files of a folder first, then its subfolders (each sorted): a stable order
    yield from walk(str(root), "")


def walk_files(root: Path, skip: Path | None = None) -> Iterator[tuple[str, Path]]:
    """(relative posix path, absolute path) for :func:`walk_rels`."""
    for rel in walk_rels(root, skip):
        yield rel, root / rel


_PROLOG = re.compile(rb"\s*(?:<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^[>]*(?:\[.*?\])?\s*>)",
                     re.S | re.I)
_TAG = re.compile(rb"\s*<([A-Za-z_][\w.:-]*)")


def xml_root_tag(path: Path | str) -> str | None:
    """The root element's name of an XML file, from its first 64 KiB (None: not XML)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(65536)
    except OSError:
        return None
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    pos = 0
    while True:
        m = _PROLOG.match(head, pos)
        if m is None or m.end() == pos:
            break
        pos = m.end()
    m = _TAG.match(head, pos)
    return m.group(1).decode("ascii", "replace") if m else None


def is_image_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTS


class Namer:
    """Flat, collision-free, deterministic file names.

    The first file with a base name keeps it; a later one with the same base name gets its
    folders joined in (``train/img1.jpg`` -> ``train__img1.jpg``), then ``_2``, ``_3``...
    Names never start with ``.`` and never equal ``annotations`` (the platform's folder).
    Records are named in the reader's order, which is sorted/source order: the same input
    always gives the same names.
    """

    def __init__(self) -> None:
        self.used: set[str] = {"annotations"}
        self.renamed = 0

    def name(self, rel: str) -> str:
        parts = [p for p in rel.replace("\\", "/").split("/") if p]
        base = _clean(parts[-1])
        if base not in self.used:
            self.used.add(base)
            return base
        self.renamed += 1
        cand = _clean("__".join(parts))
        stem, ext = os.path.splitext(cand)
        k = 1
        while cand in self.used:
            k += 1
            cand = f"{stem}_{k}{ext}"
        self.used.add(cand)
        return cand


def _clean(name: str) -> str:
    name = name.replace("\x00", "_")
    if name.startswith("."):
        name = "_" + name[1:]
    return name or "_"


class Linker:
    """Hard-link when on the same file system, else copy (decided once, on the first file)."""

    def __init__(self) -> None:
        self.linked = 0
        self.copied = 0
        self._can_link = True

    def place(self, src: Path | str, dst: Path | str) -> None:
        if self._can_link:
            try:
                os.link(src, dst, follow_symlinks=True)
                self.linked += 1
                return
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP,
                                     errno.EACCES):
                    raise
                self._can_link = False
        shutil.copyfile(src, dst)
        self.copied += 1


def unreferenced_images(root: Path, used: set[str], skip: Path | None = None) -> list[str]:
    """Image files under ``root`` (relative, sorted) that are not in ``used``."""
    return [rel for rel in walk_rels(root, skip) if is_image_name(rel) and rel not in used]
