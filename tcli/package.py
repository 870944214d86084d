"""Core of ``tc package``: the platform's ``train-container-publish.zip``, reproducibly.

Layout (platform contract §1, docs/package.md)::

    train-container-publish/
      config.py config_to_args.py cvat_dataset.py dataset.py docker-entrypoint.sh mount-s3.sh
      <provider>/<category>/<architecture>/config/...   every file but train_config.json
      <provider>/<category>/<architecture>/docker/...   every file (hidden ones too)

Development-only files (``train_config.json``, ``export_config.json``, ``export.py``,
``export.jsonschema``, ``minio/``, ``train/``) and caches, ``.git``, ``.tc`` are left out.
The same sources give a byte-identical ZIP: sorted entries, fixed timestamps (1980-01-01),
fixed permissions (0644; 0755 for ``*.sh``), fixed compression level.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tcli.contract import (
    DATA_FILE_SUFFIXES,
    DEFAULT_MAX_FILE_SIZE,
    DEV_ONLY_DIRS,
    DEV_ONLY_FILES,
    MODEL_FILE_SUFFIXES,
    PUBLISH_DIR,
    RUNTIME_FILES,
    ZIP_NAME,
)
from tcli.errors import InputError
from tcli.parsers import dockerfile as dockerfile_parser
from tcli.parsers import envfile
from tcli.project import Project, TemplateRef
from tcli.units import megabytes

ZIP_DATE = (1980, 1, 1, 0, 0, 0)
COMPRESS_LEVEL = 9
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


@dataclass
class Packaged:
    """A written ZIP."""

    template: str
    path: Path
    sha256: str
    size: int
    file_count: int


def _mode(name: str) -> int:
    return 0o755 if name.endswith(".sh") else 0o644


def _is_junk(name: str) -> bool:
    return name in JUNK_NAMES or name.endswith(JUNK_SUFFIXES)


def _check_file(path: Path, root: Path, max_file_size: int) -> Refusal | None:
    """Why ``path`` must not be packaged, or None."""
    if path.is_symlink():
        try:
            target = path.resolve(strict=True)
        except (OSError, RuntimeError):
            return Refusal("package.symlink-broken", path, "broken symlink",
                           "replace the link with the real file")
        if not target.is_relative_to(root):
            return Refusal("package.symlink-escape", path,
                           f"symlink points outside the project ({target})",
                           "copy the file into the project instead of linking to it")
    suffix = path.suffix.lower()
    if suffix in MODEL_FILE_SUFFIXES:
        return Refusal("package.data-file", path,
                       "model file: models are training outputs, never part of a template",
                       "delete it; train.py writes the model into output-dir at run time")
    if suffix in DATA_FILE_SUFFIXES or path.name == "annotations.xml":
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
                if item.is_symlink() and not item.resolve().is_relative_to(root):
                    refusals.append(Refusal(
                        "package.symlink-escape", item,
                        f"symlinked folder points outside the project ({item.resolve()})",
                        "copy the files into the project instead of linking to them"))
                    continue
                visit(item)
            else:
                files.append(item)

    if base.is_dir():
        visit(base)
    return files, dirs, refusals


def plan(project: Project, ref: TemplateRef, *,
         max_file_size: int = DEFAULT_MAX_FILE_SIZE) -> Plan:
    """Decide the ZIP's members for one template; collect refusals (never raises for them)."""
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
    for sub in ("config", "docker"):
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
    result.entries.extend(Entry(d, None, 0o755) for d in dir_names)
    result.entries.sort(key=lambda e: e.arcname)
    return result


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


def write_zip(entries: list[Entry], out: Path) -> Packaged:
    """Write ``entries`` to ``out`` atomically (temp file in the same folder + rename)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            with zipfile.ZipFile(fh, "w") as zf:
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
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
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
    if out.is_dir() or out.suffix.lower() != ".zip":
        return out / ZIP_NAME
    return out


# --------------------------------------------------------------------------- --verify


@dataclass
class VerifyResult:
    build_files: list[str]
    copy_sources: int
    problems: list[tuple[int, str]]  # (Dockerfile line, message)


def copy_problems(build_dir: Path) -> tuple[int, list[tuple[int, str]]]:
    """Check every COPY/ADD source of ``build_dir/Dockerfile`` exists in ``build_dir``."""
    dockerfile = build_dir / "Dockerfile"
    instructions = dockerfile_parser.parse_dockerfile(dockerfile.read_text(encoding="utf-8"))
    problems: list[tuple[int, str]] = []
    count = 0
    for spec in dockerfile_parser.copy_specs(instructions):
        if spec.from_stage is not None:
            continue
        for src in spec.sources:
            if "://" in src or "$" in src:
                continue
            count += 1
            rel = src.lstrip("/")
            rel = rel[2:] if rel.startswith("./") else rel
            if rel in ("", "."):
                continue
            if any(ch in rel for ch in "*?["):
                if not any(build_dir.glob(rel)):
                    problems.append((spec.line, f"{spec.keyword} {src}: matches no file in the "
                                                "build directory"))
            elif not (build_dir / rel).exists():
                problems.append((spec.line, f"{spec.keyword} {src}: no such file in the build "
                                            "directory"))
    return count, problems


def assemble_from_zip(extracted: Path, ref: TemplateRef, source: Project, dest: Path
                      ) -> Path:
    """Assemble the platform's build directory from an extracted ZIP, as the backend does.

    ``train_config.json`` is the form defaults of the ZIP's ``config.jsonschema``;
    ``export_config.json`` and the platform's ``export.py`` come from the source project's
    ``export/`` (development stand-ins of what the platform brings).
    """
    from tcli import buildctx
    from tcli.schema import form_defaults

    pseudo = dest.parent / (dest.name + "-project")
    top = extracted / PUBLISH_DIR
    for name, rel in RUNTIME_FILES.items():
        target = pseudo / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(top / name, target)
    tdir = pseudo / "templates" / ref.provider / ref.category / ref.architecture
    shutil.copytree(ref.path, tdir)
    schema = json.loads((tdir / "config" / "config.jsonschema").read_text(encoding="utf-8"))
    defaults = form_defaults(schema)
    (tdir / "config" / "train_config.json").write_text(json.dumps(defaults, indent=2) + "\n")
    export_dir = pseudo / "export"
    export_dir.mkdir(parents=True, exist_ok=True)
    export_cfg: dict[str, Any] = {}
    src_cfg = source.export_dir / "export_config.json"
    if src_cfg.is_file():
        export_cfg = json.loads(src_cfg.read_text(encoding="utf-8"))
    (export_dir / "export_config.json").write_text(json.dumps(export_cfg, indent=2) + "\n")
    src_export = source.export_dir / "export.py"
    platform_export = export_dir / "export.py"
    if src_export.is_file():
        shutil.copy2(src_export, platform_export)
    else:
        platform_export.write_text("# stand-in for the platform's own export.py\n")
    pseudo_project = Project(pseudo)
    pseudo_ref = TemplateRef(ref.provider, ref.category, ref.architecture, tdir)
    buildctx.assemble(pseudo_project, pseudo_ref, dest, train_config=defaults,
                      export_config=export_cfg, platform_export_py=platform_export)
    return dest


def verify(zip_path: Path, source: Project, *,
           max_file_size: int = DEFAULT_MAX_FILE_SIZE) -> tuple[Any, VerifyResult | None]:
    """Reopen ``zip_path`` as the platform would: safe names, validation, build directory.

    Returns the validation report of the ZIP (with ``verify.copy-missing`` findings added)
    and, when the ZIP held a template to build, what the build directory looked like.
    """
    from tcli.validate import Finding, validate_zip, zip_tree

    with tempfile.TemporaryDirectory(prefix="tc-verify-") as tmp:
        extracted = Path(tmp) / "zip"
        report = validate_zip(zip_path, max_file_size=max_file_size, extract_to=extracted)
        if report.errors:
            return report, None
        tree = zip_tree(extracted)
        ref = tree.templates[0]
        build = Path(tmp) / "build"
        assemble_from_zip(extracted, ref, source, build)
        count, problems = copy_problems(build)
        dockerfile = f"{PUBLISH_DIR}/{ref.key}/docker/Dockerfile"
        for line, message in problems:
            report.findings.append(Finding(
                "error", "verify.copy-missing", dockerfile, message,
                "ship the file in docker/ (the build directory is flat) or drop the COPY",
                line=line, target="zip"))
        files = sorted(p.name for p in build.iterdir())
        return report, VerifyResult(files, count, problems)
