"""JSON Schema loading and validation whose ``$ref`` never reaches a network or leaves the project.

jsonschema resolves ``$ref`` through a ``referencing.Registry``. Here the registry's
``retrieve`` accepts only relative or ``file:`` references that resolve (symlinks followed)
inside the project root, reads them with :mod:`tcli.safety.jsonload` (size/depth/duplicate-key
limits), and refuses everything else (``http:``, ``https:``, ``ftp:``, ``urn:``..., files outside
the root) with :class:`RefRefused`. Nothing is ever fetched over a network.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource, Unresolvable
from referencing.jsonschema import DRAFT7

from tcli.errors import InputError
from tcli.safety import jsonload
from tcli.safety.confine import is_inside


class RefRefused(InputError):
    """A ``$ref`` that tc will not follow: remote, or outside the project (exit 2)."""


def make_retrieve(base_dir: Path, root: Path, *, max_bytes: int = jsonload.DEFAULT_MAX_BYTES) -> Any:
    """A ``retrieve(uri)`` for :class:`referencing.Registry` confined to ``root``."""

    def retrieve(uri: str) -> Resource[Any]:
        parts = urlsplit(uri)
        if parts.scheme not in ("", "file") or parts.netloc not in ("", "localhost"):
            raise RefRefused(f"$ref {uri!r}: remote references are not followed",
                             "copy the referenced schema into the project and use a relative $ref")
        raw = unquote(parts.path)
        target = Path(raw) if raw.startswith("/") else base_dir / raw
        if not is_inside(target, root):
            raise RefRefused(f"$ref {uri!r}: resolves outside the project ({root})",
                             "use a schema file inside the project")
        contents = jsonload.load(target.resolve(), max_bytes=max_bytes, name=str(target))
        return Resource.from_contents(contents, default_specification=DRAFT7)

    return retrieve


def registry(base_dir: Path, root: Path) -> Registry[Any]:
    """An empty registry whose retrieve is :func:`make_retrieve` (nothing pre-loaded)."""
    return Registry(retrieve=make_retrieve(base_dir, root))  # type: ignore[call-arg]


def confined_class(schema: Any, base_dir: Path, root: Path) -> Any:
    """The validator class for ``schema`` (regexes under a time budget, see
    :mod:`tcli.safety.schemarx`) whose instances resolve ``$ref`` only inside ``root``."""
    from tcli.schema import validator_class

    cls = validator_class(schema)
    reg = registry(base_dir, root)

    class Confined:
        META_SCHEMA = cls.META_SCHEMA

        def __new__(klass, schema: Any, **kwargs: Any) -> Any:
            return cls(schema, registry=reg, **kwargs)

    return Confined


def load_schema(path: Path, root: Path, *, max_bytes: int = jsonload.DEFAULT_MAX_BYTES) -> Any:
    """Read a schema file confined to ``root`` (see :mod:`tcli.safety.jsonload`)."""
    if not is_inside(path, root):
        raise RefRefused(f"{path}: outside the project ({root})", "keep the schema inside the project")
    return jsonload.load(path, max_bytes=max_bytes)


def _unwrap(exc: BaseException) -> RefRefused | InputError | None:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, InputError):
            return cur
        cur = cur.__cause__ or cur.__context__
    return None


def iter_errors(schema: Any, instance: Any, *, base_dir: Path, root: Path,
                name: str = "schema") -> Iterator[Any]:
    """jsonschema errors of ``instance`` against ``schema``, ``$ref`` confined (see module doc).

    A refused or unresolvable reference raises InputError naming ``name`` and the reference.
    """
    from tcli.schema import validator_class

    validator = validator_class(schema)(schema, registry=registry(base_dir, root))
    try:
        yield from validator.iter_errors(instance)
    except (Unresolvable, NoSuchResource) as exc:
        inner = _unwrap(exc)
        if inner is not None:
            raise type(inner)(f"{name}: {inner.message}", inner.hint) from None
        raise RefRefused(f"{name}: $ref cannot be resolved: {exc}",
                         "point $ref at a definition in the same file or a file in the project") from None
    except RecursionError:
        raise InputError(f"{name}: $ref loops back on itself", "break the reference cycle") from None


#: The fix named with a refused ``$ref``.
REF_FIX = "keep every definition in this file and refer to it as #/definitions/..."


def refused_refs(schema: Any, base: Path, root: Path) -> list[tuple[str, str, str]]:
    """(pointer, reference, why) of every ``$ref`` of ``schema`` that tc refuses before any
    validation: remote, outside ``root``, another file, or relative to a remote ``$id``.

    ``tc validate`` reports each as a finding and ``tc form`` refuses the schema: the platform's
    form reads one schema file and never fetches one.
    """
    out: list[tuple[str, str, str]] = []
    found = _refs(schema, "")
    remote_base = any(w.endswith("/$id") and _refusal(r, base, root) for w, r in found)
    for where, ref in found:
        if where.endswith("/$id"):
            continue  # an identifier, never fetched; it matters for the relative refs below
        if remote_base and not ref.startswith("#"):
            refused: str | None = "is relative to a remote $id: remote references are not followed"
        else:
            refused = _refusal(ref, base, root)
        if refused:
            out.append((where, ref, refused))
    return out


def _refs(node: Any, where: str) -> list[tuple[str, str]]:
    """Every (pointer, value) of a ``$ref`` or ``$id`` string in a schema document."""
    out: list[tuple[str, str]] = []
    stack: list[tuple[Any, str]] = [(node, where)]
    while stack:
        cur, at = stack.pop()
        if isinstance(cur, dict):
            for k, v in cur.items():
                if k in ("$ref", "$id") and isinstance(v, str):
                    out.append((f"{at}/{k}", v))
                elif isinstance(v, dict | list):
                    stack.append((v, f"{at}/{k}"))
        elif isinstance(cur, list):
            stack.extend((v, f"{at}/{i}") for i, v in enumerate(cur))
    return sorted(out)


def _refusal(ref: str, base: Path, root: Path) -> str | None:
    parts = urlsplit(ref)
    if parts.scheme in ("http", "https") and parts.netloc in ("json-schema.org",) \
            and parts.path.startswith("/draft"):
        return None  # the well-known meta-schema URIs ($schema): known locally, never fetched
    if parts.scheme not in ("", "file") or parts.netloc not in ("", "localhost"):
        return "remote references are not followed (tc never fetches a schema)"
    if not parts.path:
        return None  # "#/definitions/x": inside this document
    raw = unquote(parts.path)
    target = Path(raw) if raw.startswith("/") else base / raw
    if not is_inside(target, root):
        return "resolves outside the project; it is not read"
    return ("refers to another file, which tc does not follow (the platform's form reads one "
            "schema file)")
