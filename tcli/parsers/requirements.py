"""Parse ``requirements.txt``: which requirements are not pinned."""

from __future__ import annotations

import re

_PINNED = re.compile(r"===?\s*[A-Za-z0-9][A-Za-z0-9._+!-]*\s*(?:;|\Z)")


def unpinned_requirements(text: str) -> list[tuple[int, str]]:
    """(line, requirement) for every requirement not pinned with ``==``/``===``.

    Options (``-r``, ``--index-url``), URLs and direct references (``name @ url``) count as
    pinned; ``==1.*`` does not.
    """
    result: list[tuple[int, str]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#") or line.startswith("-"):
            continue
        if "://" in line or " @ " in line or line.startswith(("git+", "file:")):
            continue
        spec = line.split(";", 1)[0].strip()
        if not _PINNED.search(spec + ";") or "*" in spec:
            result.append((number, line))
    return result


#: Packages a CUDA PyTorch base image already holds, built together for its CUDA: pip must not
#: replace them (torch, its companions, triton, and NVIDIA's CUDA wheels).
BASE_TORCH_PACKAGES = frozenset({"torch", "torchvision", "torchaudio", "triton"})
_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def base_torch_requirements(text: str) -> list[tuple[int, str, str]]:
    """(line, normalised name, requirement) for each requirement that would make pip replace
    the base image's CUDA torch stack (torch, torchvision, torchaudio, triton, nvidia-*)."""
    result: list[tuple[int, str, str]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        match = _NAME.match(line)
        if match is None:
            continue
        name = _normalise(match.group(1))
        if name in BASE_TORCH_PACKAGES or name.startswith("nvidia-"):
            result.append((number, name, line))
    return result
