"""What ``tc weights add SOURCE`` names: an http(s) URL, a local file, or torchvision weights.

A torchvision name is a model (``resnet18``: its DEFAULT weights) or an enum member
(``ResNet18_Weights.IMAGENET1K_V1``, also ``ResNet18_Weights.DEFAULT``), case-insensitive,
resolved from :mod:`tcli.weights.torchvision_table` (generated from torchvision's own enums).
torchvision publishes the first hex digits of each file's sha256 in its name
(``resnet18-f37072fd.pth``); tc downloads the file, computes the full sha256 and requires that
it starts with them (what torch.hub's ``check_hash`` does).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tcli.errors import InputError
from tcli.weights import torchvision_table

#: torch.hub's HASH_REGEX: ``<name>-<hex>.<ext>``
HASH_IN_NAME = re.compile(r"-([a-f0-9]{6,})\.")


@dataclass(frozen=True)
class Source:
    """A resolved SOURCE: a URL to download or a local file; what its hash must start with."""

    url: str = ""
    path: Path | None = None
    sha256_prefix: str = ""
    default_name: str = "weights"
    label: str = ""  # recorded as the lock's "source"


def _name_from(text: str) -> str:
    stem = re.sub(r"\.(pth|pt|bin|safetensors|ckpt)\Z", "", text.rsplit("/", 1)[-1], flags=re.I)
    stem = HASH_IN_NAME.sub(".", stem + ".").rstrip(".")
    clean = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-.") or "weights"
    return clean[:64] if clean[0].isalnum() else f"w{clean}"[:64]


def torchvision(name: str) -> Source | None:
    """The torchvision weights ``name`` names, or None."""
    folded = name.casefold()
    models = {k.casefold(): v for k, v in torchvision_table.DEFAULTS.items()}
    members = {k.casefold(): k for k in torchvision_table.URLS}
    key = models.get(folded)
    model = folded if key else ""
    if key is None and folded.endswith(".default"):
        enum = folded[: -len(".default")]
        key = next((v for v in torchvision_table.DEFAULTS.values()
                    if v.casefold().startswith(enum + ".")), None)
    if key is None:
        key = members.get(folded)
    if key is None:
        return None
    url = torchvision_table.URLS[key]
    if not model:
        model = next((m for m, v in torchvision_table.DEFAULTS.items()
                      if v.split(".")[0] == key.split(".")[0]), _name_from(url))
    match = HASH_IN_NAME.search(url.rsplit("/", 1)[-1])
    return Source(url=url, sha256_prefix=match.group(1) if match else "", default_name=model,
                  label=f"torchvision:{key}")


def resolve(source: str, cwd: Path) -> Source:
    """SOURCE as given on the command line (module docstring); InputError when it names
    nothing usable."""
    text = source.strip()
    if not text:
        raise InputError("SOURCE is empty", "give a URL, a file or a torchvision model name")
    scheme = text.split(":", 1)[0].lower() if ":" in text else ""
    if scheme in ("http", "https"):
        return Source(url=text, default_name=_name_from(text.split("?", 1)[0]), label=text)
    if scheme == "file":
        raise InputError(f"{text}: file:// URLs are not downloaded",
                         "give the path of the file itself (tc weights add ./model.pth)")
    if "://" in text:
        raise InputError(f"{text}: only http and https URLs are downloaded",
                         "give an http(s) URL or the path of a local file")
    path = Path(text).expanduser()
    if not path.is_absolute():
        path = cwd / path
    if path.exists() or "/" in text or text.startswith("."):
        return Source(path=path, default_name=_name_from(path.name), label=f"file:{path.name}")
    found = torchvision(text)
    if found is not None:
        return found
    raise InputError(
        f"{text}: not a file, an http(s) URL, or a torchvision model or weights name "
        f"(torchvision {torchvision_table.TORCHVISION_VERSION})",
        "e.g. tc weights add resnet18, ResNet18_Weights.IMAGENET1K_V1, ./model.pth or an https URL")
