"""``weights.lock``: the pretrained weights a template pins (name, URL, sha256, size).

It lives in the template's ``docker/`` folder, so it travels in the upload ZIP and reaches the
platform's build directory (contract §3), where the Dockerfile's weights step reads it. JSON::

    {"version": 1, "weights": [{"name": "resnet18", "url": "https://…/resnet18-f37072fd.pth",
      "sha256": "<64 hex>", "size": 46830571, "source": "torchvision:ResNet18_Weights.IMAGENET1K_V1"}]}

``url`` is "" for a file added from disk without ``--url`` (then only a build tc stages, or a ZIP
made with ``--with-weights``, has the file). A lock is untrusted input (someone else's project):
it is read as a regular file of at most :data:`MAX_LOCK_BYTES` inside the project, every field
is checked (:func:`problems`), a URL must be http(s) without credentials, and no field ever
names a path: the cached and staged files are named by the sha256 alone.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tcli.errors import InputError
from tcli.project import Project, TemplateRef
from tcli.safety import atomic, jsonload
from tcli.safety.confine import is_inside
from tcli.safety.fetch import FetchRefused, check_url

LOCK_NAME = "weights.lock"
LOCK_VERSION = 1
MAX_LOCK_BYTES = 1 << 20
MAX_ENTRIES = 100
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
SHA256_RE = re.compile(r"[0-9a-f]{64}")
MAX_URL = 2000
MAX_SOURCE = 200
FIELDS = ("name", "url", "sha256", "size", "source")


@dataclass(frozen=True)
class Entry:
    """One pinned weights file."""

    name: str
    url: str
    sha256: str
    size: int
    source: str = ""

    @property
    def staged_name(self) -> str:
        """Its file name in a build directory and in the image's weights folder."""
        return staged_name(self.sha256)


def staged_name(sha256: str) -> str:
    return f"weights-{sha256}"


def lock_path(ref: TemplateRef) -> Path:
    return ref.docker_dir / LOCK_NAME


def _entry_problems(index: int, item: Any) -> list[str]:
    where = f"entry {index + 1}"
    if not isinstance(item, dict):
        return [f"{where}: not an object"]
    name = item.get("name")
    if isinstance(name, str) and NAME_RE.fullmatch(name):
        where = f"entry {index + 1} ({name})"
    out = [f"{where}: unknown field {key!r}" for key in item if key not in FIELDS]
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        out.append(f"{where}: name {name!r} must be 1-64 letters, digits, '_', '.', '-'")
    url = item.get("url")
    if not isinstance(url, str) or len(url) > MAX_URL:
        out.append(f"{where}: url must be a string of at most {MAX_URL} characters")
    elif url:
        try:
            check_url(url, "url")
        except FetchRefused as exc:
            out.append(f"{where}: {exc.message}")
    sha = item.get("sha256")
    if not isinstance(sha, str) or not SHA256_RE.fullmatch(sha):
        out.append(f"{where}: sha256 {str(sha)[:80]!r} is not 64 lowercase hex digits")
    size = item.get("size")
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        out.append(f"{where}: size {str(size)[:40]!r} must be a positive integer (bytes)")
    source = item.get("source", "")
    if not isinstance(source, str) or len(source) > MAX_SOURCE or any(
            ord(c) < 32 for c in source):
        out.append(f"{where}: source must be one line of at most {MAX_SOURCE} characters")
    return out


def problems(data: Any) -> list[str]:
    """Every problem of a parsed lock document (empty: usable)."""
    if not isinstance(data, dict):
        return ["not a JSON object"]
    out = [f"unknown field {key!r}" for key in data if key not in ("version", "weights")]
    if data.get("version") != LOCK_VERSION:
        out.append(f"version {data.get('version')!r}: tc reads version {LOCK_VERSION}")
    items = data.get("weights")
    if not isinstance(items, list):
        return [*out, "weights must be a list"]
    if len(items) > MAX_ENTRIES:
        return [*out, f"{len(items)} entries, more than {MAX_ENTRIES}"]
    seen: set[str] = set()
    for index, item in enumerate(items):
        out.extend(_entry_problems(index, item))
        name = item.get("name") if isinstance(item, dict) else None
        if isinstance(name, str):
            if name in seen:
                out.append(f"entry {index + 1}: name {name!r} is used twice")
            seen.add(name)
    return out


def parse(data: Any, label: str) -> list[Entry]:
    """The entries of a parsed lock; InputError naming the first problem (exit 2)."""
    found = problems(data)
    if found:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise InputError(f"{label}: {found[0]}{more}",
                         "fix or delete the file, or write it again with 'tc weights add'")
    return [Entry(name=i["name"], url=i["url"], sha256=i["sha256"], size=i["size"],
                  source=i.get("source", "")) for i in data["weights"]]


def check_place(project_root: Path, path: Path) -> None:
    """InputError unless ``path`` (the lock, followed through links) stays in the project."""
    if not is_inside(path.parent, project_root) or (
            path.is_symlink() and not is_inside(path, project_root)):
        raise InputError(f"{path}: leads outside the project ({path.resolve()})",
                         "replace the link with the file itself")


def read(project: Project, ref: TemplateRef) -> list[Entry]:
    """The template's pinned weights ([] without a lock); InputError for an unusable lock."""
    path = lock_path(ref)
    if not path.exists() and not path.is_symlink():
        return []
    check_place(project.root, path)
    label = f"{project.root.name}/{path.relative_to(project.root).as_posix()}"
    data = jsonload.load(path, max_bytes=MAX_LOCK_BYTES, max_depth=8, name=label)
    return parse(data, label)


def dumps(entries: list[Entry]) -> str:
    items = []
    for e in entries:
        item = asdict(e)
        if not item["source"]:
            del item["source"]
        items.append(item)
    return json.dumps({"version": LOCK_VERSION, "weights": items}, indent=2) + "\n"


def write(project: Project, ref: TemplateRef, entries: list[Entry]) -> Path:
    """Write the lock atomically (a link at its place is replaced, never followed)."""
    path = lock_path(ref)
    check_place(project.root, path)
    atomic.write_text(path, dumps(entries))
    return path
