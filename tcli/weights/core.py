"""tc weights add|list|verify|pull, and the staging of pinned weights into a build directory.

The host cache is content-addressed: ``<cache>/weights/sha256/<hex>`` (``tcli.paths.cache_home``),
written by renaming a fully downloaded and hashed temporary file (a reader never sees half a
file; two tc at once write the same bytes under the same name). A cached file is trusted only
after its sha256 is computed again (:func:`check_cached`), so a file changed in the cache is
found, named, and never staged.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tcli.errors import InputError
from tcli.paths import cache_home
from tcli.project import Project, TemplateRef
from tcli.safety import atomic, fetch, secretscan
from tcli.safety.digest import sha256_file
from tcli.safety.lock import locked
from tcli.weights import lock
from tcli.weights.lock import Entry
from tcli.weights.sources import Source


def cache_dir() -> Path:
    return cache_home() / "weights" / "sha256"


def cached_path(sha256: str) -> Path:
    return cache_dir() / sha256


def _ensure_cache() -> Path:
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise atomic.os_error(folder, exc, "cannot create the weights cache") from None
    return folder


@dataclass(frozen=True)
class Added:
    entry: Entry
    lock_file: Path
    replaced: Entry | None
    downloaded: bool


def _copy_in(path: Path, folder: Path, max_bytes: int) -> tuple[Path, int, str]:
    """Copy a local regular file into a temporary file in ``folder``: (temp, size, sha256)."""
    from tcli.safety import limits

    with limits.open_regular(path, max_bytes=max_bytes, what=str(path)) as src:
        digest, total = hashlib.sha256(), 0
        try:
            with atomic.staged_file(folder, ".copy.") as (out, tmp):
                while chunk := src.read(1 << 20):
                    total += len(chunk)
                    if total > max_bytes:
                        raise InputError(f"{path}: more than the limit of {max_bytes} bytes",
                                         "raise --max-size")
                    digest.update(chunk)
                    out.write(chunk)
        except OSError as exc:
            raise atomic.os_error(folder, exc) from None
    return tmp, total, digest.hexdigest()


def _keep(tmp: Path, sha256: str) -> None:
    """Move a hashed temporary file to its content address (atomic, read-only)."""
    try:
        os.chmod(tmp, 0o444)
        atomic.replace(tmp, cached_path(sha256))
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise atomic.os_error(cached_path(sha256), exc) from None


def fetch_into_cache(url: str, *, max_bytes: int, timeout_s: float, sha256_prefix: str = "",
                     expected: Entry | None = None) -> tuple[str, int]:
    """Download ``url`` into the cache: (sha256, size). With ``expected`` the bytes must be
    that entry's; with ``sha256_prefix`` the hash must start with it (torchvision)."""
    folder = _ensure_cache()
    got = fetch.download(url, folder, max_bytes=max_bytes, timeout_s=timeout_s,
                         expected_size=expected.size if expected else None)
    wrong = ""
    if sha256_prefix and not got.sha256.startswith(sha256_prefix):
        wrong = (f"sha256 {got.sha256[:16]}… does not start with {sha256_prefix}, the hash "
                 "published in the file name")
    elif expected and (got.sha256 != expected.sha256 or got.size != expected.size):
        wrong = (f"sha256 {got.sha256[:16]}… ({got.size} bytes) does not match weights.lock's "
                 f"{expected.sha256[:16]}… ({expected.size} bytes) for {expected.name}")
    if wrong:
        got.path.unlink(missing_ok=True)
        raise InputError(f"{url}: {wrong}; nothing was kept",
                         "check the URL; a file that changed upstream needs 'tc weights add' again")
    _keep(got.path, got.sha256)
    return got.sha256, got.size


def add(project: Project, ref: TemplateRef, source: Source, *, name: str | None = None,
        url: str | None = None, max_bytes: int = fetch.DEFAULT_MAX_BYTES,
        timeout_s: float = fetch.DEFAULT_TIMEOUT_S, refresh: bool = False,
        on_download: Callable[[str], None] | None = None) -> Added:
    """Cache SOURCE's file and pin it in the template's weights.lock (module docstring). A URL
    the lock already pins, with its file in the cache, is not downloaded again unless
    ``refresh``."""
    if not (ref.docker_dir / "tc_weights.py").is_file():
        raise InputError(f"{ref.key}: docker/tc_weights.py is missing, so no build would "
                         "install pinned weights", "torchvision templates only; in an older "
                         "project run 'tc update' first")
    entries = lock.read(project, ref)  # an unusable lock stops us before any download
    chosen = name or source.default_name
    if not lock.NAME_RE.fullmatch(chosen):
        raise InputError(f"--name {chosen!r}: must be 1-64 letters, digits, '_', '.', '-'",
                         "choose a name like resnet18")
    if url is not None and source.path is None:
        raise InputError("--url is for a local file (where the platform's build downloads it)",
                         "leave --url out: the SOURCE URL is recorded")
    record_url = source.url or (url or "")
    if record_url:
        fetch.check_url(record_url, "--url" if url else "URL")
        hits = secretscan.scan_text(record_url, max_hits=1)
        if hits:
            raise InputError(f"{'--url' if url else 'URL'}: holds what looks like a secret "
                             f"({hits[0].kind}), which would be written into weights.lock and "
                             "uploaded", "give a URL without tokens (not a presigned URL); or "
                             "add the downloaded file with a public --url")
    pinned = next((e for e in entries if source.url and e.url == source.url
                   and check_cached(e).state == "ok"), None)
    if source.path is not None:
        tmp, size, sha = _copy_in(source.path, _ensure_cache(), max_bytes)
        _keep(tmp, sha)
        downloaded = False
    elif pinned is not None and not refresh:  # downloaded once: the cache has those bytes
        sha, size, downloaded = pinned.sha256, pinned.size, False
    else:
        if on_download is not None:
            on_download(source.url)
        sha, size = fetch_into_cache(source.url, max_bytes=max_bytes, timeout_s=timeout_s,
                                     sha256_prefix=source.sha256_prefix)
        downloaded = True
    entry = Entry(chosen, record_url, sha, size, source.label[: lock.MAX_SOURCE])
    # read-modify-write under an inter-process lock: two tc weights add at once both land
    with locked(project.tc_path("weights-lock.flock"), what="weights.lock", timeout_s=60):
        entries = lock.read(project, ref)
        replaced = next((e for e in entries if e.name == chosen), None)
        new = [entry if e.name == chosen else e for e in entries]
        if replaced is None:
            new.append(entry)
        written = lock.write(project, ref, new)
    return Added(entry, written, replaced, downloaded)


@dataclass(frozen=True)
class Checked:
    entry: Entry
    state: str  # ok | missing | mismatch
    detail: str = ""


def check_cached(entry: Entry) -> Checked:
    """Is ``entry``'s file in the cache, with its sha256 and size?"""
    path = cached_path(entry.sha256)
    if not path.exists() and not path.is_symlink():
        return Checked(entry, "missing", f"not in the host cache ({path.parent})")
    actual = sha256_file(path)
    if actual is None:
        return Checked(entry, "mismatch", f"{path}: not a regular file")
    if actual != entry.sha256:
        return Checked(entry, "mismatch", f"{path}: sha256 is {actual[:16]}…, weights.lock "
                       f"says {entry.sha256[:16]}…")
    size = path.stat().st_size
    if size != entry.size:
        return Checked(entry, "mismatch", f"{path}: {size} bytes, weights.lock says {entry.size}")
    return Checked(entry, "ok")


def verify(project: Project, ref: TemplateRef) -> list[Checked]:
    return [check_cached(e) for e in lock.read(project, ref)]


def pull(project: Project, ref: TemplateRef, *, max_bytes: int = fetch.DEFAULT_MAX_BYTES,
         timeout_s: float = fetch.DEFAULT_TIMEOUT_S) -> list[tuple[Entry, str]]:
    """Download every entry not (correctly) cached from its URL: [(entry, what happened)]."""
    done: list[tuple[Entry, str]] = []
    for entry in lock.read(project, ref):
        state = check_cached(entry)
        if state.state == "ok":
            done.append((entry, "cached"))
            continue
        if not entry.url:
            raise InputError(f"{entry.name}: {state.detail}, and weights.lock has no URL for it",
                             f"add the file again: tc weights add FILE --name {entry.name}")
        fetch_into_cache(entry.url, max_bytes=max(max_bytes, entry.size), timeout_s=timeout_s,
                         expected=entry)
        done.append((entry, "downloaded"))
    return done


def staged_files(project: Project, ref: TemplateRef) -> tuple[dict[str, Path], list[str]]:
    """Files ``tc dev-run``/``tc build`` add to the build directory ({staged name: cached
    file}) and one note per entry; InputError (exit 2) for a cached file that does not match."""
    files: dict[str, Path] = {}
    notes: list[str] = []
    for entry in lock.read(project, ref):
        state = check_cached(entry)
        if state.state == "mismatch":
            raise InputError(f"weights {entry.name}: {state.detail}; nothing was built",
                             "fetch it again with 'tc weights pull' (or 'tc weights add')")
        if state.state == "missing":
            if not entry.url:
                raise InputError(f"weights {entry.name}: {state.detail} and weights.lock has no "
                                 "URL for it", f"add the file again: tc weights add FILE "
                                 f"--name {entry.name}")
            notes.append(f"weights {entry.name}: not in the host cache; the image build "
                         f"downloads it from {entry.url} ('tc weights pull' caches it)")
            continue
        files[entry.staged_name] = cached_path(entry.sha256)
        notes.append(f"weights {entry.name}: from the host cache (sha256 {entry.sha256[:12]}…, "
                     f"{entry.size} bytes)")
    return files, notes
