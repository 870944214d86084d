# Managed by tc (`tc update` brings its new versions) — edit train.py instead.
"""Pretrained weights pinned in ``weights.lock`` (written by ``tc weights add``), verified by sha256.

Two uses, one file:

* At build time (the Dockerfile's weights step)::

      COPY tc_weights.py weights.loc[k] weights-* /opt/tc-weights/
      RUN python /opt/tc-weights/tc_weights.py install /opt/tc-weights

  Each entry's file is ``weights-<sha256>``: staged into the build directory by ``tc dev-run`` /
  ``tc build`` from the host cache (or shipped by ``tc package --with-weights``); when absent (the
  platform's build) it is downloaded from the lock's URL (http/https, at most the locked size,
  60 s socket timeout). Its sha256 and size must match the lock, else the build fails with one
  ``tc-weights: error: ...`` line.

* At run time, ``pinned_weights(args.weights)`` in train.py: the setting names a lock entry (or
  is empty and the lock has exactly one entry), the file's sha256 is checked again before
  loading and the log says ``weights: NAME sha256=... (from URL)``. A path that is no lock
  entry is loaded as before (logged with its sha256, "not pinned"). Nothing is downloaded at
  run time. ``TC_WEIGHTS_DIR`` (default ``/opt/tc-weights``) is where the files and the lock
  are; the lock beside this file is used when that folder has none (a run outside Docker).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

DEFAULT_DIR = "/opt/tc-weights"
LOCK_NAME = "weights.lock"
SHA256_RE = re.compile(r"[0-9a-f]{64}")
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
BLOCK = 1 << 20


class WeightsError(Exception):
    """One line saying what is wrong with the pinned weights."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(BLOCK):
            digest.update(chunk)
    return digest.hexdigest()


def read_lock(path: Path) -> list[dict[str, Any]]:
    """The entries of a weights.lock; WeightsError naming the first bad field."""
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise WeightsError(f"{path}: unreadable: {exc}") from None
    items = data.get("weights") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise WeightsError(f"{path}: no 'weights' list")
    for i, item in enumerate(items, 1):
        ok = (isinstance(item, dict) and isinstance(item.get("name"), str)
              and NAME_RE.fullmatch(item["name"]) and isinstance(item.get("sha256"), str)
              and SHA256_RE.fullmatch(item["sha256"]) and isinstance(item.get("size"), int)
              and item["size"] > 0 and isinstance(item.get("url", ""), str))
        if not ok:
            raise WeightsError(f"{path}: entry {i} lacks a valid name, sha256 or size")
    return items


def _check(path: Path, entry: dict[str, Any]) -> None:
    size = path.stat().st_size
    if size != entry["size"]:
        raise WeightsError(f"{entry['name']}: {path.name} has {size} bytes, weights.lock says "
                           f"{entry['size']}")
    actual = sha256_of(path)
    if actual != entry["sha256"]:
        raise WeightsError(f"{entry['name']}: {path.name} has sha256 {actual}, weights.lock "
                           f"says {entry['sha256']}")


def _download(entry: dict[str, Any], dest: Path) -> None:
    """Download ``entry``'s URL into ``dest``, kept only when size and sha256 match."""
    url, limit = entry["url"], entry["size"]
    if not re.match(r"https?://", url):
        raise WeightsError(f"{entry['name']}: {url}: only http(s) URLs are downloaded")
    fd, tmp_name = tempfile.mkstemp(prefix=".download.", dir=dest.parent)
    tmp, total, digest = Path(tmp_name), 0, hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            while chunk := response.read(BLOCK):
                total += len(chunk)
                if total > limit:
                    raise WeightsError(f"{entry['name']}: {url} sends more than the {limit} bytes "
                                       "weights.lock says")
                digest.update(chunk)
                out.write(chunk)
        if total != limit or digest.hexdigest() != entry["sha256"]:
            raise WeightsError(f"{entry['name']}: the download from {url} has sha256 "
                               f"{digest.hexdigest()} ({total} bytes), weights.lock says "
                               f"{entry['sha256']} ({limit} bytes)")
        os.replace(tmp, dest)
    except (OSError, http.client.HTTPException) as exc:
        raise WeightsError(f"{entry['name']}: {url}: download failed: {exc}") from None
    finally:
        tmp.unlink(missing_ok=True)


def install(folder: Path) -> int:
    """The build step: every lock entry present in ``folder`` and verified (or exit 1)."""
    lock = folder / LOCK_NAME
    if not lock.is_file():
        print("tc-weights: no weights.lock: no pinned weights", flush=True)
        return 0
    try:
        for entry in read_lock(lock):
            path = folder / f"weights-{entry['sha256']}"
            how = "staged by tc"
            if not path.is_file():
                if not entry.get("url"):
                    raise WeightsError(f"{entry['name']}: no staged file and no URL in "
                                       "weights.lock (tc package --with-weights ships it)")
                _download(entry, path)
                how = f"downloaded from {entry['url']}"
            _check(path, entry)
            print(f"tc-weights: {entry['name']} sha256={entry['sha256']} ok ({how})", flush=True)
    except WeightsError as exc:
        print(f"tc-weights: error: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


def _lock_and_dir() -> tuple[Path | None, Path]:
    folder = Path(os.environ.get("TC_WEIGHTS_DIR") or DEFAULT_DIR)
    for lock in (folder / LOCK_NAME, Path(__file__).resolve().parent / LOCK_NAME):
        if lock.is_file():
            return lock, folder
    return None, folder


def resolve(setting: str) -> tuple[str, str]:
    """(file to load, log line) for the ``weights`` setting; WeightsError when unusable."""
    lock, folder = _lock_and_dir()
    entries = read_lock(lock) if lock else []
    if not setting:
        if not entries:
            return "", ""
        if len(entries) > 1:
            names = ", ".join(e["name"] for e in entries)
            raise WeightsError(f"weights.lock pins several weights ({names}): set 'weights' to "
                               "one of them")
        setting = entries[0]["name"]
    entry = next((e for e in entries if e["name"] == setting), None)
    if entry is None:
        path = Path(setting)
        if not path.is_file():
            names = ", ".join(e["name"] for e in entries) or "none"
            raise WeightsError(f"{setting}: no such file and no such name in weights.lock "
                               f"(names: {names})")
        sha = sha256_of(path)
        entry = next((e for e in entries if e["sha256"] == sha), None)
        if entry is None:
            return str(path), f"weights: {path} sha256={sha} (not pinned in weights.lock)"
        return str(path), f"weights: {entry['name']} sha256={sha} ({path})"
    path = folder / f"weights-{entry['sha256']}"
    if not path.is_file():
        raise WeightsError(f"{entry['name']}: {path} is missing (the image was built without "
                           "it: rebuild with tc dev-run or tc build)")
    _check(path, entry)
    origin = f"from {entry['url']}" if entry.get("url") else entry.get("source") or "local file"
    return str(path), f"weights: {entry['name']} sha256={entry['sha256']} ({origin})"


def pinned_weights(setting: str) -> str:
    """train.py's one call: the verified file to load ("" for random weights). Exits 2 with
    one ``weights: error: ...`` line when the weights are missing or do not match."""
    try:
        path, line = resolve(setting or "")
    except WeightsError as exc:
        print(f"weights: error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    if line and os.environ.get("RANK", "0") == "0":
        print(line, flush=True)
    return path


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "install":
        sys.exit(install(Path(sys.argv[2])))
    print("usage: tc_weights.py install FOLDER", file=sys.stderr)
    sys.exit(2)
