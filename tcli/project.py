"""A generated train-container project on disk (the platform's "Backend" layout).

```
<root>/common/  datasets/  export/  validation/
<root>/templates/<provider>/<category>/<architecture>/{config,docker}/
```
Pure filesystem logic: no Typer, no Docker.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from tcli.errors import InputError
from tcli.safety.confine import is_inside

_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*")
#: Longest folder name tc accepts (file systems allow 255 bytes; leave room for suffixes).
MAX_SEGMENT = 100


def check_segment(field: str, value: str) -> str:
    """Return ``value`` if it is a safe path segment, else raise InputError naming it.

    Safe: non-empty, no ``/`` or ``\\``, not ``.``/``..``, no leading dot, no whitespace,
    only letters, digits and ``_ . + -``.
    """
    if not value:
        raise InputError(f"--{field} must not be empty", "use a name like 'Torchvision'")
    if len(value) > MAX_SEGMENT:
        raise InputError(f"--{field} is too long ({len(value)} characters, at most {MAX_SEGMENT})",
                         "use a shorter name like 'Torchvision'")
    if not _SEGMENT.fullmatch(value) or ".." in value:
        raise InputError(
            f"--{field} {value!r} is not a safe folder name",
            "use letters, digits, '_', '-', '.', '+' only; no '/', '..', spaces or leading dot",
        )
    return value


@dataclass(frozen=True)
class TemplateRef:
    """One ``templates/<provider>/<category>/<architecture>`` folder."""

    provider: str
    category: str
    architecture: str
    path: Path

    @property
    def key(self) -> str:
        return f"{self.provider}/{self.category}/{self.architecture}"

    @property
    def config_dir(self) -> Path:
        return self.path / "config"

    @property
    def docker_dir(self) -> Path:
        return self.path / "docker"


@dataclass(frozen=True)
class Project:
    """A generated project rooted at ``root``."""

    root: Path

    @classmethod
    def load(cls, path: Path | str) -> Project:
        root = Path(path).resolve()
        if not root.is_dir():
            raise InputError(f"{path}: no such project folder", "run 'tc new NAME' to create one")
        if not (root / "templates").is_dir():
            raise InputError(
                f"{path}: not a train-container project (no templates/ folder)",
                "run tc inside a folder made by 'tc new', or pass its path",
            )
        return cls(root)

    def templates(self) -> list[TemplateRef]:
        """Every provider/category/architecture folder, sorted."""
        refs: list[TemplateRef] = []
        base = self.root / "templates"
        for arch_dir in sorted(base.glob("*/*/*")):
            if arch_dir.is_dir() and not any(p.startswith(".") for p in arch_dir.parts[-3:]):
                provider, category, architecture = arch_dir.parts[-3:]
                refs.append(TemplateRef(provider, category, architecture, arch_dir))
        return refs

    def select(self, key: str | None) -> TemplateRef:
        """The template named ``P/C/A``; with ``None``, the only one (error if several)."""
        refs = self.templates()
        if not refs:
            raise InputError(
                f"{self.root}/templates: no <provider>/<category>/<architecture> folder found",
                "create one with 'tc new'",
            )
        if key is None:
            if len(refs) > 1:
                names = ", ".join(r.key for r in refs)
                raise InputError(
                    f"project holds several templates ({names})",
                    "choose one with --template PROVIDER/CATEGORY/ARCHITECTURE",
                )
            return refs[0]
        for ref in refs:
            if ref.key == key.strip("/"):
                return ref
        names = ", ".join(r.key for r in refs)
        raise InputError(f"--template {key!r} not found; available: {names}")

    @property
    def export_dir(self) -> Path:
        return self.root / "export"

    @property
    def tc_dir(self) -> Path:
        """Per-project working folder of tc (mock MinIO, train output); never packaged."""
        return self.tc_path()

    def tc_path(self, *parts: str) -> Path:
        """``<root>/.tc/<parts>``, refused (InputError, one line) when ``.tc`` or a folder on
        the way is a symlink leading out of the project: tc writes and deletes there."""
        path = self.root / ".tc"
        for part in ("", *parts):
            path = path / part if part else path
            if path.is_symlink() and not is_inside(path, self.root):
                raise InputError(
                    f"{path}: a symlink to {os.readlink(path)}, outside the project; "
                    "nothing was written or deleted",
                    f"tc keeps its working files inside the project: remove the link (rm {path})")
        return path
