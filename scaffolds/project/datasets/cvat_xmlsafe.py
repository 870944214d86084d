# Managed by tc (`tc update` brings its new versions) — edit train.py instead.
"""The hardened lxml configuration of the CVAT reader, and the checks around it.

A DOCTYPE or ENTITY declaration is refused before lxml sees the file (XXE, billion laughs);
the one parser configuration loads no DTD and never reaches the network; a file that is not
well-formed gets one message naming the line and column.
"""

from __future__ import annotations

import re
from typing import Any

from cvat_model import CvatError


def prolog_check(path: str) -> None:
    """Reject a DOCTYPE or ENTITY declaration before lxml sees the file."""
    with open(path, "rb") as fh:
        head = fh.read(65536)
    # The prolog ends at the first element start tag ("<" followed by a name character).
    i = 0
    n = len(head)
    while True:
        i = head.find(b"<", i)
        if i < 0 or i + 1 >= n:
            break
        nxt = head[i + 1:i + 2]
        if nxt in (b"?",):
            i += 2
            continue
        if nxt == b"!":
            if head.startswith(b"<!--", i):
                end = head.find(b"-->", i + 4)
                if end < 0:
                    break
                i = end + 3
                continue
            if head[i:i + 9].upper() == b"<!DOCTYPE" or head[i:i + 8].upper() == b"<!ENTITY":
                raise CvatError(f"{path}: has a DOCTYPE/ENTITY declaration; refused "
                                "(CVAT exports have none; entities could read files or "
                                "expand without bound)")
            i += 2
            continue
        break



def xml_parser(target: Any) -> Any:
    """The one lxml parser configuration: a target parser, no network, no DTD loading.

    ``resolve_entities="internal"`` makes libxml2 hand over attribute values with their
    character and predefined entity references decoded (``&amp;`` -> ``&``) exactly as an
    XML library's tree does; with ``False`` it returns ``&amp;`` in an attribute as
    ``&#38;``. No other entity can exist: a DOCTYPE is refused before its internal subset
    is read (:func:`prolog_check` and the target's ``doctype`` callback), and external
    entities are never resolved."""
    from lxml import etree

    return etree.XMLParser(target=target, resolve_entities="internal", no_network=True,
                           load_dtd=False, huge_tree=False, remove_comments=True,
                           remove_pis=True)


def malformed(spath: str, exc: Any) -> CvatError:
    line, col = getattr(exc, "position", None) or (getattr(exc, "lineno", 0), 0)
    msg = str(getattr(exc, "msg", "") or exc)
    # lxml appends ", line N, column M" and "(file, line N)": said once, in front
    msg = re.sub(r"\s*\([^()]*, line \d+\)$", "", msg)
    msg = re.sub(r", line \d+, column \d+$", "", msg)
    where = f"line {line}, column {col}" if col else f"line {line}"
    return CvatError(f"{spath}: annotations file is malformed or truncated ({where}: "
                     f"{msg}); re-export it from CVAT and upload it again")


class _NullTarget:
    """A target parser that builds nothing (the well-formedness check)."""

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        pass

    def end(self, tag: str) -> None:
        pass

    def data(self, text: str) -> None:
        pass

    def doctype(self, *_args: Any) -> None:
        raise CvatError("has a DOCTYPE")

    def close(self) -> None:
        pass


def check_well_formed(spath: str) -> None:
    """Raise the "malformed or truncated" error when ``spath`` is not well-formed XML."""
    from lxml import etree

    try:
        etree.parse(spath, xml_parser(_NullTarget()))
    except etree.XMLSyntaxError as exc:
        raise malformed(spath, exc) from None
    except CvatError:
        return
