"""JSON Schema helpers shared by validate and publish (ground layer; jsonschema imported lazily).

The platform's form starts from each property's ``default``; findings point into documents
with RFC 6901 JSON pointers.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def form_defaults(schema: dict[str, Any]) -> dict[str, Any]:
    """The instance the platform's form starts with: each property's ``default``."""
    props = schema.get("properties", {})
    if not isinstance(props, dict):
        return {}
    return {k: v["default"] for k, v in props.items() if isinstance(v, dict) and "default" in v}


def pointer(path: Iterable[Any]) -> str:
    """RFC 6901 JSON pointer of a jsonschema error path."""
    parts = [str(p).replace("~", "~0").replace("/", "~1") for p in path]
    return "/" + "/".join(parts) if parts else ""


def validator_class(schema: Any) -> Any:
    """The jsonschema validator class for ``schema`` (draft 7 unless ``$schema`` says otherwise),
    its regex keywords under a time budget (:mod:`tcli.safety.schemarx`)."""
    import jsonschema  # heavy; keep tc --help light

    from tcli.safety.schemarx import budgeted

    return budgeted(jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator))
