"""JSON Schema validation whose regular expressions run under the time budget of :mod:`rx`.

jsonschema evaluates ``pattern``, ``patternProperties`` (also inside ``additionalProperties``
and ``unevaluatedProperties``) and ``format: regex`` with Python's ``re``, which has no time
limit: ``{"pattern": "^(a+)+$"}`` against ``'a'*40 + '!'`` hangs the process. :func:`budgeted`
returns a validator class whose keywords match through :func:`tcli.safety.rx.search` instead;
a pattern that does not compile, or runs past the budget, is a validation error naming the
pattern (never a hang, never a traceback). ``tcli.schema.validator_class`` returns such a class,
so every schema tc checks (validate, package, form) goes through here.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

from tcli.safety import rx

#: Seconds one schema pattern may take on one value (a config value is short).
BUDGET_S = rx.DEFAULT_BUDGET_S


class _Slow(Exception):
    """A pattern that ran past the budget or does not compile (the message says which)."""


def _search(pattern: Any, text: str) -> bool:
    if not isinstance(pattern, str):
        raise _Slow(f"pattern {pattern!r} is not a string")
    try:
        return rx.search(pattern, text, budget_s=BUDGET_S, what=f"pattern {pattern[:80]!r}") is not None
    except (rx.RegexTimeout, rx.RegexInvalid) as exc:
        raise _Slow(exc.message) from None


def _error(message: str) -> Any:
    from jsonschema.exceptions import ValidationError

    return ValidationError(message)


def _pattern(validator: Any, patrn: Any, instance: Any, schema: Any) -> Iterator[Any]:
    if not validator.is_type(instance, "string"):
        return
    try:
        ok = _search(patrn, instance)
    except _Slow as exc:
        yield _error(str(exc))
        return
    if not ok:
        yield _error(f"{instance!r} does not match {patrn!r}")


def _pattern_properties(validator: Any, pattern_props: Any, instance: Any,
                        schema: Any) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in pattern_props.items():
        for k, v in instance.items():
            try:
                hit = _search(pattern, k)
            except _Slow as exc:
                yield _error(str(exc))
                return
            if hit:
                yield from validator.descend(v, subschema, path=k, schema_path=pattern)


def _additional(instance: Any, schema: Any) -> Iterator[str]:
    """jsonschema's find_additional_properties, the patterns matched under the budget."""
    properties = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    for prop in instance:
        if prop not in properties and not any(_search(p, prop) for p in patterns):
            yield prop


def _additional_properties(validator: Any, aP: Any, instance: Any, schema: Any) -> Iterator[Any]:
    from jsonschema._utils import extras_msg

    if not validator.is_type(instance, "object"):
        return
    try:
        extras = set(_additional(instance, schema))
    except _Slow as exc:
        yield _error(str(exc))
        return
    if validator.is_type(aP, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], aP, path=extra)
    elif not aP and extras:
        if "patternProperties" in schema:
            verb = "does" if len(extras) == 1 else "do"
            joined = ", ".join(repr(each) for each in sorted(extras))
            patterns = ", ".join(repr(each) for each in sorted(schema["patternProperties"]))
            yield _error(f"{joined} {verb} not match any of the regexes: {patterns}")
        else:
            error = "Additional properties are not allowed (%s %s unexpected)"
            yield _error(error % extras_msg(sorted(extras, key=str)))


def _unevaluated_properties(original: Any) -> Any:
    """``unevaluatedProperties``: refused when the schema also has patternProperties anywhere
    below (jsonschema would match those with ``re``); otherwise jsonschema's own keyword."""

    @functools.wraps(original)
    def check(validator: Any, uP: Any, instance: Any, schema: Any) -> Iterator[Any]:
        if _has_key(schema, "patternProperties"):
            yield _error("unevaluatedProperties together with patternProperties is not "
                         "supported by tc; use additionalProperties")
            return
        yield from original(validator, uP, instance, schema)

    return check


def _has_key(node: Any, key: str) -> bool:
    stack = [node]
    while stack:
        cur = stack.pop()
        if isinstance(cur, dict):
            if key in cur:
                return True
            stack.extend(cur.values())
        elif isinstance(cur, list):
            stack.extend(cur)
    return False


def _format_checker(base: Any) -> Any:
    """``base`` with ``regex`` compiled by :func:`rx.compile_pattern` (never ``re``)."""
    import jsonschema

    checker = jsonschema.FormatChecker(list(base.checkers)) if base is not None \
        else jsonschema.FormatChecker()

    def is_regex(instance: object) -> bool:
        if not isinstance(instance, str):
            return True
        rx.compile_pattern(instance, what=f"format regex {instance[:80]!r}")
        return True

    checker.checks("regex", raises=(rx.RegexInvalid,))(is_regex)
    return checker


@functools.cache
def budgeted(cls: Any) -> Any:
    """``cls`` (a jsonschema validator class) with every regex keyword under the budget."""
    import jsonschema

    keywords = dict(cls.VALIDATORS)
    changes: dict[str, Any] = {}
    for name, fn in (("pattern", _pattern), ("patternProperties", _pattern_properties),
                     ("additionalProperties", _additional_properties)):
        if name in keywords:
            changes[name] = fn
    if "unevaluatedProperties" in keywords:
        changes["unevaluatedProperties"] = _unevaluated_properties(keywords["unevaluatedProperties"])
    return jsonschema.validators.extend(
        cls, changes, format_checker=_format_checker(getattr(cls, "FORMAT_CHECKER", None)))
