"""The allow-list of what may be packaged into a train-container ZIP.

Instead of "everything but a deny-list", a file goes into the ZIP only when its path (relative
to the template folder, POSIX) is under ``config/`` or ``docker/`` and its name matches one of
:data:`ALLOWED` (source, config and text files a train container needs). Everything else is
refused with a reason, and :mod:`tcli.safety.secretscan` vetoes credentials even when allowed.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from pathlib import PurePosixPath

from tcli.safety.secretscan import sensitive_name

#: Name patterns allowed under docker/ (matched case-insensitively against the file name).
ALLOWED_DOCKER = (
    "dockerfile", "dockerfile.*", "*.dockerfile", ".dockerignore", ".env", "*.py", "*.sh",
    "requirements*.txt", "constraints*.txt", "*.txt", "*.md", "*.json", "*.jsonschema",
    "*.yaml", "*.yml", "*.toml", "*.cfg", "*.ini", "*.csv", "*.tsv", "*.xml",
)
#: Name patterns allowed under config/.
ALLOWED_CONFIG = ("*.json", "*.jsonschema", "*.txt", "*.md")
TOP_FOLDERS = {"docker": ALLOWED_DOCKER, "config": ALLOWED_CONFIG}


def refusal(relpath: str) -> str | None:
    """Why ``relpath`` (relative to a template folder) may not be packaged, or None."""
    p = PurePosixPath(relpath)
    if p.is_absolute() or ".." in p.parts or len(p.parts) < 2:
        return "is not inside the template's config/ or docker/ folder"
    secret = sensitive_name(relpath)
    if secret:
        return secret
    patterns = TOP_FOLDERS.get(p.parts[0])
    if patterns is None:
        return f"is in {p.parts[0]}/, which the platform does not read"
    name = p.name.casefold()
    if any(fnmatchcase(name, pat) for pat in patterns):
        return None
    return f"is not a kind of file a train container needs ({p.parts[0]}/ takes {', '.join(patterns)})"
