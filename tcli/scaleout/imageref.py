"""Container image references (``[REGISTRY/]NAME[:TAG][@DIGEST]``), checked with the grammar
of the distribution project's ``reference`` package, so that a typo is refused here and not
by a cluster minutes later."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tcli.errors import InputError

_LABEL = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)"
_DOMAIN = rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9a-fA-F:]+\])(?::[0-9]{{1,5}})?"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(
    rf"(?:(?P<domain>{_DOMAIN})/)?(?P<path>{_COMPONENT}(?:/{_COMPONENT})*)"
    rf"(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?"
)
EXAMPLE = "REGISTRY/NAME:TAG, e.g. registry.example.com/team/tc-classification:1.0"


@dataclass(frozen=True)
class ImageRef:
    registry: str | None
    repository: str  # with the registry, without tag/digest (what `docker push` names)
    tag: str | None
    digest: str | None

    @property
    def full(self) -> str:
        text = self.repository
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse(text: str, option: str = "--image") -> ImageRef:
    """The parsed reference, or InputError naming ``option`` and the expected form."""
    value = text.strip()
    if value != text or len(value) > 255 or not value:
        raise InputError(f"{option} {text!r} is not an image reference", f"use {EXAMPLE}")
    match = _REFERENCE.fullmatch(value)
    if not match:
        raise InputError(f"{option} {text!r} is not an image reference "
                         "(lower-case name, optional registry host[:port], :tag or @digest)",
                         f"use {EXAMPLE}")
    domain = match.group("domain")
    path = match.group("path")
    # like Docker: a first component without '.' or ':' (and not localhost) is a name, not a host
    if domain is not None and not ("." in domain or ":" in domain or domain == "localhost"
                                   or domain.startswith("[")):
        if domain != domain.lower():
            raise InputError(f"{option} {text!r}: repository names are lower-case",
                             f"use {EXAMPLE}")
        path, domain = f"{domain}/{path}", None
    if len(path) > 255:
        raise InputError(f"{option} {text!r}: the name is longer than 255 characters")
    repository = f"{domain}/{path}" if domain else path
    return ImageRef(domain, repository, match.group("tag"), match.group("digest"))
