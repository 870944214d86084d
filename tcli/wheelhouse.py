"""The host side of a stand-in build: the host's pip fills a wheelhouse for the image's Python.

Whatever the host's pip configuration says (index URLs, extra indexes, find-links, constraint
files, certificates) applies, because it is the host's pip that runs; the image later installs
from the folder with ``--no-index`` and no configuration at all (:mod:`tcli.baseimage`).
"""

from __future__ import annotations

import platform
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from tcli.errors import BuildFailed

#: Python of the Debian image (bookworm): wheels are resolved for it, whatever the host runs.
IMAGE_PYTHON = "3.11"
IMAGE_GLIBC_MINOR = 36

NOT_FOUND = re.compile(r"No matching distribution found for (\S+)")
NO_VERSION = re.compile(r"Could not find a version that satisfies the requirement (\S+)")
NO_SPACE = re.compile(r"No space left on device|ENOSPC", re.IGNORECASE)
_NETWORK = re.compile(
    r"Failed to establish a new connection|Temporary failure in name resolution|"
    r"Network is unreachable|ConnectTimeout|ReadTimeout|SSLError|ProxyError|Max retries exceeded",
)

def _platforms() -> list[str]:
    arch = platform.machine() or "x86_64"
    tags = [f"manylinux_2_{minor}_{arch}" for minor in range(IMAGE_GLIBC_MINOR, 16, -1)]
    return [*tags, f"manylinux2014_{arch}", f"manylinux2010_{arch}", f"manylinux1_{arch}", f"linux_{arch}"]


def pip_download_argv(requirements: Sequence[str], dest: Path, python: str = sys.executable) -> list[str]:
    """The host pip command that fetches wheels for the image's Python and platform."""
    argv = [python, "-m", "pip", "download", "--disable-pip-version-check", "--progress-bar", "off",
            "--only-binary=:all:", "--implementation", "cp", "--python-version", IMAGE_PYTHON,
            "--abi", "cp" + IMAGE_PYTHON.replace(".", ""), "-d", str(dest)]
    for tag in _platforms():
        argv += ["--platform", tag]
    return [*argv, *requirements]


def fetch_failure(output: str) -> str:
    """One line explaining why pip could not fetch the packages (names the package)."""
    missing = NOT_FOUND.search(output) or NO_VERSION.search(output)
    net = _NETWORK.search(output)
    if missing and net:
        return f"could not fetch {missing.group(1)}: the package registry is unreachable ({net.group(0)})"
    if missing:
        return f"could not fetch {missing.group(1)}: no matching distribution"
    if NO_SPACE.search(output):
        return "could not fetch the packages: no space left on device"
    if net:
        return f"could not fetch the packages: {net.group(0)}"
    errors = [ln.strip() for ln in output.splitlines() if ln.strip().startswith("ERROR")]
    last = (errors[-1] if errors else output.strip()[-200:]) or "pip failed"
    return f"could not fetch the packages: {last}"


WHEELHOUSE_HINT = "the build needs the package registry or a wheelhouse: --wheelhouse DIR"


def fill_wheelhouse(
    requirements: Sequence[str],
    dest: Path,
    *,
    python: str = sys.executable,
    env: dict[str, str] | None = None,
    on_status: Callable[[str], None] | None = None,
) -> None:
    """Download wheels for ``requirements`` into ``dest`` with the host's pip, as configured.

    Raises:
        BuildFailed: pip could not fetch a package; the message names it.
    """
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "requirements.txt").write_text("\n".join(requirements) + "\n", encoding="utf-8")
    if on_status:
        on_status(f"resolving {len(requirements)} packages with the host's pip into {dest}")
    proc = subprocess.run(
        pip_download_argv(requirements, dest, python), capture_output=True, text=True,
        env=env, stdin=subprocess.DEVNULL, check=False,
    )
    if proc.returncode != 0:
        raise BuildFailed(fetch_failure(proc.stdout + "\n" + proc.stderr), WHEELHOUSE_HINT)
