"""Core of ``tc new`` and ``tc update``: render and update projects with Copier.

Copier's three-way update needs every scaffold version a project was made from as a git
commit. tc ships its scaffolds as plain files, so it keeps a small git repository of them,
the *scaffold store* (``$TC_HOME/scaffold-store``): each time tc runs, the packaged scaffolds
are synced into it and committed and tagged (``<tc version>.post<n>``) when they changed.
Projects record the store path and tag in ``.copier-answers.yml``; ``tc update`` syncs the
store again and lets Copier merge the difference into the project; ``tc update --dry-run``
runs that update on a temporary copy and lists what it would change.

(Just over 400 lines: the store, render, update and its preview share the store and git
helpers and read best together.)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tcli import __version__
from tcli.contract import ANSWERS_FILE
from tcli.errors import InputError, TcError
from tcli.paths import scaffolds_dir, tc_home
from tcli.project import MAX_SEGMENT, check_segment
from tcli.safety.lock import locked

TEMPLATES: dict[str, str] = {
    "classification": "torchvision image classification (ResNet-18 / MobileNetV3 / EfficientNet)",
    "detection": "torchvision object detection (Faster R-CNN ResNet-18 / MobileNetV3 FPN)",
    "segmentation": "torchvision semantic segmentation (LRASPP MobileNetV3)",
    "sklearn": "scikit-learn on simple image features (fast, CPU)",
}
SEGMENT_FIELDS = ("provider", "category", "architecture")
_GIT_ENV = {
    "GIT_AUTHOR_NAME": "tc",
    "GIT_AUTHOR_EMAIL": "tc@localhost",
    "GIT_COMMITTER_NAME": "tc",
    "GIT_COMMITTER_EMAIL": "tc@localhost",
}


def _git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **_GIT_ENV, "GIT_TERMINAL_PROMPT": "0"}
    try:
        return subprocess.run(
            ["git", *args], cwd=cwd, env=env, check=check, capture_output=True, text=True
        )
    except FileNotFoundError:
        raise TcError("git is not installed", "install git (apt-get install git)") from None
    except subprocess.CalledProcessError as exc:
        detail = (exc.stderr or exc.stdout or "").strip().splitlines()
        raise TcError(f"git {' '.join(args)} failed in {cwd}: {detail[-1] if detail else exc}") from None


def copier_failure(stage: str, exc: Exception) -> TcError:
    """The one translation of a Copier error into tc's errors.

    While rendering (``copy``) Copier complains about the answers it was given: bad input,
    exit 2. While updating an existing project it fails on the merge: exit 1.
    """
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if stage == "copy":
        return InputError(f"copier: {first}")
    return TcError(f"copier update failed: {first}")


def validate_answers(answers: dict[str, Any]) -> dict[str, Any]:
    """Check flag values before Copier sees them; raise InputError naming the bad value."""
    template = answers.get("template")
    if template is not None and template not in TEMPLATES:
        raise InputError(
            f"--template {template!r} is unknown; available: {', '.join(TEMPLATES)}",
            "run 'tc new --help' for what each template trains",
        )
    for name in SEGMENT_FIELDS:
        if name in answers and answers[name] is not None:
            check_segment(name, str(answers[name]))
    return answers


@dataclass(frozen=True)
class StoreRef:
    """A scaffold version in the store."""

    path: Path
    tag: str
    commit: str


def sync_store(source: Path | None = None, store: Path | None = None) -> StoreRef:
    """Make the store's HEAD equal the packaged scaffolds; commit and tag when they changed."""
    source = source or scaffolds_dir()
    store = store or tc_home() / "scaffold-store"
    if not (source / "copier.yml").is_file():
        raise TcError(f"{source}: not a tc scaffold folder (no copier.yml)")
    home = store.parent
    if home.exists() and not home.is_dir():
        raise InputError(f"{home}: TC_HOME is not a folder (tc keeps its scaffold store there)",
                         "set TC_HOME to a folder, or unset it")
    with locked(home / "scaffold-store.lock"):
        return _sync_locked(source, store)


def _sync_locked(source: Path, store: Path) -> StoreRef:
    """The body of :func:`sync_store`, run under the store lock.

    Only files the store itself tracks (``git ls-files``) are ever removed; anything else a
    user put in the folder is left alone and never committed."""
    try:
        if not (store / ".git").is_dir():
            store.mkdir(parents=True, exist_ok=True)
            _git(store, "init", "-q", "-b", "main")
    except (NotADirectoryError, FileExistsError, PermissionError) as exc:
        raise InputError(f"{store}: cannot create the scaffold store: {exc.strerror or exc}",
                         "set TC_HOME to a folder you can write to") from None
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    wanted: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(source):
        skip = ignore(dirpath, dirnames + filenames)
        dirnames[:] = [d for d in dirnames if d not in skip]
        rel_dir = Path(dirpath).relative_to(source)
        wanted.update((rel_dir / f).as_posix() for f in filenames if f not in skip)
    tracked = _git(store, "ls-files", "-z").stdout.split("\0")
    for rel in tracked:
        if rel and rel not in wanted:
            target = store / rel
            if target.is_file() or target.is_symlink():
                target.unlink()
    shutil.copytree(source, store, dirs_exist_ok=True, ignore=ignore)
    _git(store, "add", "-u")
    top = sorted({rel.split("/", 1)[0] for rel in wanted})
    _git(store, "add", "-A", "--", *top)
    changed = _git(store, "diff", "--cached", "--name-only").stdout.strip()
    has_head = _git(store, "rev-parse", "--verify", "-q", "HEAD", check=False).returncode == 0
    if changed or not has_head:
        _git(store, "commit", "-q", "--allow-empty", "-m", f"scaffolds of tc {__version__}")
        count = _git(store, "rev-list", "--count", "HEAD").stdout.strip()
        _git(store, "tag", f"{__version__}.post{count}")
    commit = _git(store, "rev-parse", "HEAD").stdout.strip()
    tag = _git(store, "describe", "--tags", "--exact-match", "HEAD").stdout.strip()
    return StoreRef(store, tag, commit)


@dataclass
class NewResult:
    path: Path
    answers: dict[str, Any]
    files: list[str] = field(default_factory=list)
    git_initialised: bool = False


def _is_empty_dir(path: Path) -> bool:
    return path.is_dir() and not any(path.iterdir())


def render(
    dest: Path,
    answers: dict[str, Any],
    *,
    force: bool = False,
    defaults: bool = True,
    git_init: bool = False,
) -> NewResult:
    """Render a new project into ``dest`` with Copier.

    The project is rendered into a temporary sibling folder first and moved into place only
    when Copier succeeded, so a failure never leaves a half-written project behind.

    Args:
        dest: project folder; must not exist or be empty unless ``force``.
        answers: Copier answers (template, provider, category, architecture, ...).
        force: render into a non-empty folder, overwriting files tc generates.
        defaults: never prompt; unanswered questions take their defaults.
        git_init: ``git init`` the new project and commit it (needed for ``tc update``).
    """
    import copier  # heavy; keep tc --help light

    validate_answers(answers)
    dest = dest.resolve()
    if len(os.fsencode(dest.name)) > MAX_SEGMENT:
        raise InputError(f"{dest.name[:40]}...: project folder name is too long "
                         f"({len(dest.name)} characters, at most {MAX_SEGMENT})",
                         "choose a shorter folder name")
    if dest.exists() and not dest.is_dir():
        raise InputError(f"{dest}: exists and is not a folder")
    if dest.exists() and not _is_empty_dir(dest) and not force:
        raise InputError(
            f"{dest}: folder exists and is not empty; nothing was written",
            "choose a new folder, or pass --force to render into it (tc's files are overwritten)",
        )
    ref = sync_store()
    existed = dest.exists()
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{dest.parent}: cannot create the folder: {exc.strerror or exc}",
                         "choose a folder you can write to") from None
    try:
        staging = Path(tempfile.mkdtemp(prefix=".tc-new-", dir=dest.parent))
    except OSError as exc:
        raise InputError(f"{dest}: cannot write there: {exc.strerror or exc}",
                         "choose a folder you can write to") from None
    try:
        try:
            worker = copier.run_copy(
                str(ref.path), str(staging), data=answers, defaults=defaults,
                vcs_ref=ref.tag, overwrite=True, quiet=True, unsafe=False,
            )
        except copier.errors.CopierError as exc:
            raise copier_failure("copy", exc) from None
        except (KeyboardInterrupt, EOFError):
            raise
        final_answers = dict(worker.answers.combined)
        files = sorted(str(p.relative_to(staging)) for p in staging.rglob("*") if p.is_file())
        if dest.exists():
            for rel in files:
                target = dest / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(staging / rel, target)
        else:
            os.replace(staging, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    result = NewResult(dest, {k: v for k, v in final_answers.items() if not k.startswith("_")}, files)
    if git_init and shutil.which("git") and not _inside_git(dest):
        try:
            _git(dest, "init", "-q")
            _git(dest, "add", "-A")
            _git(dest, "commit", "-q", "-m", f"Train container from tc {__version__} ({ref.tag})")
        except BaseException:
            _undo_new(dest, existed, files)
            raise
        result.git_initialised = True
    return result


def _undo_new(dest: Path, existed: bool, files: list[str]) -> None:
    """Remove what an interrupted ``tc new`` created: the folder if tc made it, else only the
    files tc rendered and the ``.git`` it started (a user's own files stay)."""
    if not existed:
        shutil.rmtree(dest, ignore_errors=True)
        return
    shutil.rmtree(dest / ".git", ignore_errors=True)
    for rel in files:
        with contextlib.suppress(OSError):
            (dest / rel).unlink()


def _inside_git(path: Path) -> bool:
    return _git(path, "rev-parse", "--is-inside-work-tree", check=False).returncode == 0


@dataclass
class UpdateResult:
    path: Path
    old_version: str
    new_version: str
    changed: list[str]
    conflicts: list[str]
    snapshot_commit: str | None = None


def _conflicted_files(root: Path) -> list[str]:
    unmerged = _git(root, "diff", "--name-only", "--diff-filter=U").stdout.split()
    changed = _git(root, "status", "--porcelain").stdout.splitlines()
    marked: set[str] = set(unmerged)
    for line in changed:
        rel = line[3:].strip()
        p = root / rel
        if p.is_file():
            try:
                text = p.read_text(errors="replace")
            except OSError:
                continue
            if "<<<<<<< " in text and ">>>>>>> " in text:
                marked.add(rel)
    return sorted(marked)


def _load_answers(answers_path: Path, yaml: Any) -> dict[str, Any]:
    """The answers file as a mapping with a ``_commit``; InputError (one line) otherwise."""
    fix = "restore it from git (git checkout -- .copier-answers.yml) or recreate the project"
    try:
        raw = answers_path.read_bytes()
        if len(raw) > 1024 * 1024:
            raise InputError(f"{answers_path}: too large ({len(raw)} bytes) for an answers file", fix)
        text = raw.decode("utf-8")
        if "\x00" in text:
            raise InputError(f"{answers_path}: binary content, not an answers file", fix)
        old = yaml.safe_load(text)
    except UnicodeDecodeError:
        raise InputError(f"{answers_path}: not UTF-8 text, not an answers file", fix) from None
    except OSError as exc:
        raise InputError(f"{answers_path}: cannot read: {exc.strerror or exc}", fix) from None
    except (yaml.YAMLError, RecursionError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{answers_path}: not valid YAML ({first})", fix) from None
    if not isinstance(old, dict):
        raise InputError(f"{answers_path}: holds a {type(old).__name__}, not the answers mapping", fix)
    if not isinstance(old.get("_commit"), str):
        raise InputError(f"{answers_path}: no scaffold version (_commit) recorded", fix)
    return old


def update(path: Path, *, force: bool = False, defaults: bool = True) -> UpdateResult:
    """Apply the current scaffolds to an existing project (Copier's three-way merge).

    Refuses on a dirty git tree unless ``force``; with ``force`` the local changes are first
    committed as a snapshot (nothing is lost; ``git reset --soft HEAD~1`` undoes it).
    """
    import copier
    import yaml

    root = path.resolve()
    answers_path = root / ANSWERS_FILE
    if not answers_path.is_file():
        raise InputError(
            f"{answers_path}: missing; this project was not made by 'tc new'",
            "run tc update in a folder created by 'tc new'",
        )
    old = _load_answers(answers_path, yaml)
    if not _inside_git(root):
        raise InputError(
            f"{root}: not a git repository; tc update merges with git",
            "run: git init && git add -A && git commit -m 'initial'",
        )
    snapshot = None
    if _git(root, "status", "--porcelain").stdout.strip():
        if not force:
            raise InputError(
                f"{root}: uncommitted changes; nothing was updated",
                "commit or stash them first, or pass --force to snapshot them in a commit",
            )
        _git(root, "add", "-A")
        _git(root, "commit", "-q", "-m", "tc update: snapshot of local changes")
        snapshot = _git(root, "rev-parse", "HEAD").stdout.strip()
    ref = sync_store()
    old_version = str(old.get("_commit", "?"))
    store_tags = _git(ref.path, "tag", "--list").stdout.split()
    if old_version not in store_tags:
        raise TcError(
            f"{answers_path}: scaffold version {old_version!r} is not in the local scaffold store "
            f"{ref.path}",
            "tc update needs the version the project was made from; "
            "run it on the machine (TC_HOME) where the project was created",
        )
    if old_version == ref.tag:
        return UpdateResult(root, old_version, ref.tag, [], [], snapshot)
    try:
        copier.run_update(
            str(root), vcs_ref=ref.tag, defaults=defaults,
            overwrite=True, quiet=True, skip_answered=True, unsafe=False, conflict="inline",
        )
    except copier.errors.CopierError as exc:
        raise copier_failure("update", exc) from None
    changed = sorted(
        line[3:].strip() for line in _git(root, "status", "--porcelain").stdout.splitlines()
    )
    return UpdateResult(root, old_version, ref.tag, changed, _conflicted_files(root), snapshot)


def preview_update(path: Path) -> tuple[UpdateResult, list[tuple[str, str]]]:
    """What ``tc update`` would do, without writing to the project: the update runs on a
    copy in a temporary folder, and every file is listed as ``unchanged``, ``updated``,
    ``conflicting``, ``added`` or ``removed`` (relative path order)."""
    root = path.resolve()
    with tempfile.TemporaryDirectory(prefix="tc-update-preview-") as tmp:
        copy = Path(tmp) / root.name
        try:
            shutil.copytree(root, copy, symlinks=True)
        except (OSError, shutil.Error) as exc:
            raise InputError(f"{root}: cannot copy the project for the preview: {exc}",
                             "check the folder's permissions") from None
        result = update(copy, force=True)
        before, after = _files(root), _files(copy)
        rows: list[tuple[str, str]] = []
        conflicts = set(result.conflicts)
        for rel in sorted(set(before) | set(after)):
            if rel not in after:
                state = "removed"
            elif rel not in before:
                state = "added"
            elif before[rel] == after[rel]:
                state = "unchanged"
            elif rel in conflicts:
                state = "conflicting"
            else:
                state = "updated"
            rows.append((state, rel))
    return UpdateResult(root, result.old_version, result.new_version,
                        [r for s, r in rows if s != "unchanged"], sorted(conflicts)), rows


def _files(root: Path) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if rel.parts[0] == ".git" or not p.is_file() or p.is_symlink():
            continue
        out[rel.as_posix()] = p.read_bytes()
    return out
