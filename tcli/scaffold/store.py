"""Core of ``tc new``: the scaffold store, and rendering projects with Copier.

Copier's three-way update needs every scaffold version a project was made from as a git
commit. tc ships its scaffolds as plain files, so it keeps a small git repository of them,
the *scaffold store* (``$TC_HOME/scaffold-store``): each time tc runs, the packaged scaffolds
are synced into it and committed and tagged (``<tc version>.post<n>``) when they changed.
Projects record the store path and tag in ``.copier-answers.yml``. ``tc update`` (its preview
and its undo) lives in :mod:`tcli.scaffold.update` and uses the store and the git helper here.
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
from tcli.contract import TEMPLATE_NAMES
from tcli.errors import InputError, TcError
from tcli.paths import scaffolds_dir, tc_home
from tcli.project import MAX_SEGMENT, check_segment
from tcli.safety import atomic
from tcli.safety.lock import locked

SEGMENT_FIELDS = ("provider", "category", "architecture")
_GIT_ENV = {
    "GIT_AUTHOR_NAME": "tc",
    "GIT_AUTHOR_EMAIL": "tc@localhost",
    "GIT_COMMITTER_NAME": "tc",
    "GIT_COMMITTER_EMAIL": "tc@localhost",
}


def git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
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
    if template is not None and template not in TEMPLATE_NAMES:
        raise InputError(
            f"--template {template!r} is unknown; available: {', '.join(TEMPLATE_NAMES)}",
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


#: A file in the store's ``.git`` saying tc created that repository (and the first commit's
#: message, for stores made before the marker existed).
STORE_MARKER = "tc-scaffold-store"
STORE_MARKER_TEXT = "This repository is tc's scaffold store; tc commits here.\n"
_FIRST_COMMIT = "scaffolds of tc "


def _check_store_is_ours(store: Path) -> None:
    """InputError unless ``store`` is a repository tc created (see :func:`_sync_locked`)."""
    marker = store / ".git" / STORE_MARKER
    if marker.is_file() and not marker.is_symlink():
        return
    roots = git(store, "rev-list", "--max-parents=0", "HEAD", check=False).stdout.split()
    first = git(store, "log", "-1", "--format=%s", roots[0], check=False).stdout if roots else ""
    if len(roots) == 1 and first.startswith(_FIRST_COMMIT):
        with contextlib.suppress(OSError):  # a store of an older tc: mark it now
            marker.write_text(STORE_MARKER_TEXT)
        return
    raise InputError(f"{store}: a git repository tc did not create; nothing was committed to it",
                     "tc keeps its scaffold store in TC_HOME/scaffold-store: set TC_HOME to "
                     "another folder, or move that repository away")


def _sync_locked(source: Path, store: Path) -> StoreRef:
    """The body of :func:`sync_store`, run under the store lock.

    Only files the store itself tracks (``git ls-files``) are ever removed; anything else a
    user put in the folder is left alone and never committed. A git repository there that tc
    did not create (no store marker, and its first commit is not tc's) is refused: tc never
    commits into someone else's repository."""
    try:
        if not (store / ".git").is_dir():
            store.mkdir(parents=True, exist_ok=True)
            git(store, "init", "-q", "-b", "main")
            (store / ".git" / STORE_MARKER).write_text(STORE_MARKER_TEXT)
    except (NotADirectoryError, FileExistsError, PermissionError) as exc:
        raise InputError(f"{store}: cannot create the scaffold store: {exc.strerror or exc}",
                         "set TC_HOME to a folder you can write to") from None
    _check_store_is_ours(store)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    wanted: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(source):
        skip = ignore(dirpath, dirnames + filenames)
        dirnames[:] = [d for d in dirnames if d not in skip]
        rel_dir = Path(dirpath).relative_to(source)
        wanted.update((rel_dir / f).as_posix() for f in filenames if f not in skip)
    tracked = git(store, "ls-files", "-z").stdout.split("\0")
    for rel in tracked:
        if rel and rel not in wanted:
            target = store / rel
            if target.is_file() or target.is_symlink():
                target.unlink()
    shutil.copytree(source, store, dirs_exist_ok=True, ignore=ignore)
    git(store, "add", "-u")
    top = sorted({rel.split("/", 1)[0] for rel in wanted})
    git(store, "add", "-A", "--", *top)
    changed = git(store, "diff", "--cached", "--name-only").stdout.strip()
    has_head = git(store, "rev-parse", "--verify", "-q", "HEAD", check=False).returncode == 0
    if changed or not has_head:
        git(store, "commit", "-q", "--allow-empty", "-m", f"scaffolds of tc {__version__}")
        count = git(store, "rev-list", "--count", "HEAD").stdout.strip()
        git(store, "tag", f"{__version__}.post{count}")
    commit = git(store, "rev-parse", "HEAD").stdout.strip()
    tag = git(store, "describe", "--tags", "--exact-match", "HEAD").stdout.strip()
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
                atomic.replace(staging / rel, target)
        else:
            atomic.replace(staging, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    result = NewResult(dest, {k: v for k, v in final_answers.items() if not k.startswith("_")}, files)
    if git_init and shutil.which("git") and not inside_git(dest):
        try:
            git(dest, "init", "-q")
            git(dest, "add", "-A")
            git(dest, "commit", "-q", "-m", f"Train container from tc {__version__} ({ref.tag})")
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


def inside_git(path: Path) -> bool:
    return git(path, "rev-parse", "--is-inside-work-tree", check=False).returncode == 0
