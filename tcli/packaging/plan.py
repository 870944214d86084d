"""Decide a template's ZIP members, and refuse what must never be uploaded.

Refused: model weights, dataset and archive files, files over the size limit, unreadable
files, symlinks that are broken or point outside the project, a ``.env`` holding a secret.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from tcli.contract import (
    ANNOTATIONS_XML,
    DATA_FILE_SUFFIXES,
    DEFAULT_MAX_FILE_SIZE,
    DEV_ONLY_DIRS,
    DEV_ONLY_FILES,
    MODEL_FILE_SUFFIXES,
    PUBLISH_DIR,
    RUNTIME_FILES,
    TEMPLATE_DIRS,
)
from tcli.parsers import envfile
from tcli.project import Project, TemplateRef
from tcli.safety import secretscan
from tcli.safety.confine import is_inside
from tcli.units import megabytes

#: Never packaged, whatever their folder: bytecode and editor/OS droppings.
JUNK_SUFFIXES = (".pyc", ".pyo")
JUNK_NAMES = frozenset({".DS_Store", "Thumbs.db"})


@dataclass(frozen=True)
class Refusal:
    """A file tc package will not put into a ZIP."""

    code: str
    path: Path
    message: str
    fix: str


@dataclass(frozen=True)
class Entry:
    """One ZIP member: a folder (``source`` None) or a file."""

    arcname: str
    source: Path | None
    mode: int


@dataclass
class Plan:
    """What goes into the ZIP of one template, and what was refused."""

    template: TemplateRef
    entries: list[Entry] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)

    @property
    def files(self) -> list[Entry]:
        return [e for e in self.entries if e.source is not None]


def _mode(name: str) -> int:
    return 0o755 if name.endswith(".sh") else 0o644


def _is_junk(name: str) -> bool:
    return name in JUNK_NAMES or name.endswith(JUNK_SUFFIXES)


def _check_file(path: Path, root: Path, max_file_size: int) -> Refusal | None:
    """Why ``path`` must not be packaged, or None."""
    name = os.fsdecode(path.name)
    if any(ord(c) < 32 or 0xDC80 <= ord(c) <= 0xDCFF for c in name):
        return Refusal("package.bad-name", path,
                       f"file name {name!r} has a control character or is not UTF-8",
                       "rename the file (letters, digits, '-', '_', '.')")
    try:
        rel = path.relative_to(root).as_posix()
    except ValueError:
        rel = name
    credential = secretscan.sensitive_name(rel)
    if credential:
        return Refusal("package.credentials", path, f"{credential}: never packaged",
                       "delete it from the template (keep credentials outside the project)")
    if path.is_symlink():
        try:
            target = path.resolve(strict=True)
        except (OSError, RuntimeError):
            return Refusal("package.symlink-broken", path, "broken symlink",
                           "replace the link with the real file")
        if not is_inside(target, root):
            return Refusal("package.symlink-escape", path,
                           f"symlink points outside the project ({target})",
                           "copy the file into the project instead of linking to it")
    try:
        is_regular = stat.S_ISREG(path.stat().st_mode)
    except OSError as exc:
        return Refusal("file.unreadable", path, f"cannot read: {exc.strerror}",
                       "fix the file's permissions")
    if not is_regular:  # reading a FIFO would wait for a writer for ever
        return Refusal("package.special-file", path,
                       "not a regular file (a FIFO, socket or device): never packaged",
                       "delete it from the template")
    suffix = path.suffix.lower()
    if suffix in MODEL_FILE_SUFFIXES:
        return Refusal("package.data-file", path,
                       "model file: models are training outputs, never part of a template",
                       "delete it; train.py writes the model into output-dir at run time")
    if suffix in DATA_FILE_SUFFIXES or path.name == ANNOTATIONS_XML:
        return Refusal("package.data-file", path,
                       "dataset or archive file: the platform mounts the dataset at run time",
                       "keep data in minio/datasets/ (development only)")
    try:
        size = path.stat().st_size
    except OSError as exc:
        return Refusal("file.unreadable", path, f"cannot read: {exc.strerror}",
                       "fix the file's permissions")
    if size > max_file_size:
        return Refusal("package.oversize", path,
                       f"{megabytes(size):.1f} MB is over the {megabytes(max_file_size):g} MB limit",
                       "keep large files out of the template, or raise --max-file-size")
    if not os.access(path, os.R_OK):
        return Refusal("file.unreadable", path, "cannot read: Permission denied",
                       "fix the file's permissions (chmod a+r)")
    try:
        content = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        content = None
    if content is not None:
        hits = secretscan.scan_text(content, max_hits=1)
        if hits:
            return Refusal("package.secret", path,
                           f"line {hits[0].line} holds what looks like a secret ({hits[0].kind})",
                           "remove it; pass secrets at run time, never in the template")
    if path.name == ".env":
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None  # reported by tc validate
        for entry in envfile.parse_env(text).entries:
            kind = envfile.secret_kind(entry.key, entry.value)
            if kind:
                return Refusal("env.secret", path,
                               f"{entry.key} (line {entry.line}) looks like {kind}",
                               "remove it; .env is uploaded with the template")
    return None


def _walk(base: Path, root: Path) -> tuple[list[Path], list[Path], list[Refusal]]:
    """Files and folders under ``base`` (symlinked folders inside the project followed once)."""
    files: list[Path] = []
    dirs: list[Path] = []
    refusals: list[Refusal] = []
    visited: set[Path] = set()

    def visit(folder: Path) -> None:
        real = folder.resolve()
        if real in visited:
            return
        visited.add(real)
        dirs.append(folder)
        for item in sorted(folder.iterdir(), key=lambda p: p.name):
            if item.is_dir():
                if item.name in DEV_ONLY_DIRS:
                    continue
                if item.is_symlink() and not is_inside(item, root):
                    refusals.append(Refusal(
                        "package.symlink-escape", item,
                        f"symlinked folder points outside the project ({item.resolve()})",
                        "copy the files into the project instead of linking to them"))
                    continue
                visit(item)
            else:
                files.append(item)

    if base.is_dir():
        if not is_inside(base, root):
            refusals.append(Refusal(
                "package.symlink-escape", base,
                f"folder points outside the project ({base.resolve()})",
                "copy the files into the project instead of linking to them"))
            return files, dirs, refusals
        visit(base)
    return files, dirs, refusals


def weights_entries(project: Project, ref: TemplateRef, prefix: str) -> list[Entry]:
    """``--with-weights``: the files pinned in weights.lock, from the host cache (each
    sha256-checked), as ``docker/weights-<sha256>`` (the name the Dockerfile's step installs);
    InputError (exit 2) when one is missing or changed in the cache."""
    from tcli.errors import InputError
    from tcli.weights.core import cached_path, check_cached
    from tcli.weights.lock import read

    out: list[Entry] = []
    for entry in read(project, ref):
        state = check_cached(entry)
        if state.state != "ok":
            raise InputError(f"--with-weights: {entry.name}: {state.detail}; nothing was written",
                             "fetch it with 'tc weights pull' (or 'tc weights add')")
        out.append(Entry(f"{prefix}/docker/{entry.staged_name}", cached_path(entry.sha256),
                         0o644))
    return out


def plan(project: Project, ref: TemplateRef, *,
         max_file_size: int = DEFAULT_MAX_FILE_SIZE, with_weights: bool = False) -> Plan:
    """Decide the ZIP's members for one template; collect refusals (never raises for them,
    but ``with_weights`` raises InputError for a pinned file the host cache lacks)."""
    root = project.root
    result = Plan(ref)
    dir_names: set[str] = {f"{PUBLISH_DIR}/"}
    for name, rel in sorted(RUNTIME_FILES.items()):
        src = root / rel
        if not src.is_file() and not src.is_symlink():
            continue  # tc validate reports missing runtime files
        refusal = _check_file(src, root, max_file_size)
        if refusal:
            result.refusals.append(refusal)
            continue
        result.entries.append(Entry(f"{PUBLISH_DIR}/{name}", src, _mode(name)))
    prefix = f"{PUBLISH_DIR}/{ref.provider}/{ref.category}/{ref.architecture}"
    parts = prefix.split("/")
    for i in range(2, len(parts) + 1):
        dir_names.add("/".join(parts[:i]) + "/")
    for sub in TEMPLATE_DIRS:
        files, dirs, refusals = _walk(ref.path / sub, root)
        result.refusals.extend(refusals)
        for d in dirs:
            dir_names.add(f"{prefix}/{d.relative_to(ref.path).as_posix()}/")
        for f in files:
            if f.name in DEV_ONLY_FILES or _is_junk(f.name):
                continue
            refusal = _check_file(f, root, max_file_size)
            if refusal:
                result.refusals.append(refusal)
                continue
            arc = f"{prefix}/{f.relative_to(ref.path).as_posix()}"
            result.entries.append(Entry(arc, f, _mode(f.name)))
    if with_weights:  # pinned weights: checked by sha256, not by the size/suffix rules
        staged = weights_entries(project, ref, prefix)
        names = {e.arcname for e in staged}
        result.entries = [e for e in result.entries if e.arcname not in names] + staged
    result.entries.extend(Entry(d, None, 0o755) for d in dir_names)
    result.entries.sort(key=lambda e: e.arcname)
    return result
