"""The search space of ``tc sweep``: taken from the template's ``config.jsonschema`` (the
platform's form), narrowed by ``--param`` and a sweep file.

From the schema (:func:`space_from_schema`):

* ``integer``/``number`` with both bounds (``minimum``/``maximum``; ``exclusiveMinimum``/
  ``exclusiveMaximum`` respected) -> a numeric range; a log scale when the range is positive and
  spans two decades or more. A float with ``exclusiveMinimum`` (a learning rate, ``C``) starts
  at a thousandth of its default;
* ``enum`` -> its values; ``boolean`` -> false/true;
* left out by default: the keys setup.py reads (:data:`tcli.contract.SETUP_KEYS`) and
  :data:`NOT_TUNED` (budget, resources, reproducibility: ``epochs``, ``num-workers``,
  ``seed``), strings without an enum, numbers without both bounds. ``--param`` brings any of
  them in.

``--param`` (:func:`parse_param`): ``NAME=LOW:HIGH`` / ``NAME=LOW:HIGH:log`` (a range inside the
schema's bounds), ``NAME=a,b,c`` (choices, each valid for the schema), ``NAME=value`` (fixed).
A bad one is an :class:`~tcli.errors.InputError` naming the parameter (exit 2).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tcli.contract import SETUP_KEYS
from tcli.errors import InputError
from tcli.safety import limits

#: Keys a sweep leaves alone unless ``--param`` names them (a budget, resources, a seed).
NOT_TUNED = ("epochs", "num-workers", "seed")
#: A range spanning at least this ratio (and positive) is searched on a log scale.
LOG_RATIO = 100.0
#: Largest sweep file read.
MAX_SWEEP_FILE = 256 * 1024

INT, FLOAT, CHOICE = "int", "float", "categorical"


@dataclass(frozen=True)
class Param:
    """One searched parameter (a ``CHOICE`` with one value is fixed)."""

    name: str
    kind: str
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()

    @property
    def fixed(self) -> bool:
        return self.kind == CHOICE and len(self.choices) == 1

    def describe(self) -> str:
        if self.kind == CHOICE:
            return ",".join(_text(c) for c in self.choices)
        return f"{_text(self.low)}:{_text(self.high)}" + (":log" if self.log else "")

    def to_dict(self) -> dict[str, Any]:
        if self.kind == CHOICE:
            return {"name": self.name, "kind": self.kind, "choices": list(self.choices)}
        return {"name": self.name, "kind": self.kind, "low": self.low, "high": self.high,
                "log": self.log}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Param:
        return cls(name=str(data["name"]), kind=str(data["kind"]), low=data.get("low"),
                   high=data.get("high"), log=bool(data.get("log", False)),
                   choices=tuple(data.get("choices") or ()))

    def contains(self, value: Any) -> bool:
        if self.kind == CHOICE:
            return any(value == c and type(value) is type(c) for c in self.choices)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        assert self.low is not None and self.high is not None
        return self.low <= value <= self.high


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _properties(schema: Mapping[str, Any]) -> Mapping[str, Any]:
    props = schema.get("properties")
    return props if isinstance(props, Mapping) else {}


def _number(prop: Mapping[str, Any], key: str) -> float | None:
    value = prop.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value


def schema_bounds(prop: Mapping[str, Any]) -> tuple[float | None, float | None, bool]:
    """(lowest allowed, highest allowed, whether the lowest is exclusive) of a numeric
    property; an integer's exclusive bound becomes the next integer."""
    low, high = _number(prop, "minimum"), _number(prop, "maximum")
    exclusive = False
    ex_low, ex_high = _number(prop, "exclusiveMinimum"), _number(prop, "exclusiveMaximum")
    integer = prop.get("type") == "integer"
    if ex_low is not None and (low is None or ex_low >= low):
        low, exclusive = (math.floor(ex_low) + 1, False) if integer else (ex_low, True)
    if ex_high is not None and (high is None or ex_high <= high):
        high = math.ceil(ex_high) - 1 if integer else ex_high
    return low, high, exclusive


def _auto_log(low: float, high: float) -> bool:
    return low > 0 and high / low >= LOG_RATIO


def param_from_property(name: str, prop: Mapping[str, Any]) -> Param | None:
    """The parameter a schema property gives by default, or None when it cannot be searched."""
    enum = prop.get("enum")
    kind = prop.get("type")
    if isinstance(enum, list) and enum:
        return Param(name, CHOICE, choices=tuple(enum))
    if kind == "boolean":
        return Param(name, CHOICE, choices=(False, True))
    if kind not in ("integer", "number"):
        return None
    low, high, exclusive = schema_bounds(prop)
    if low is None or high is None or high <= low:
        return None
    if kind == "integer":
        ilow, ihigh = math.ceil(low), math.floor(high)
        return Param(name, INT, ilow, ihigh, log=_auto_log(ilow, ihigh)) if ihigh > ilow else None
    if exclusive:
        default = _number(prop, "default")
        low = default / 1000 if default is not None and default > low else low + (high - low) * 1e-6
    return Param(name, FLOAT, float(low), float(high), log=_auto_log(low, high))


def space_from_schema(schema: Mapping[str, Any]) -> dict[str, Param]:
    """The default search space: every searchable property but the left-out ones (module doc)."""
    space: dict[str, Param] = {}
    for name, prop in _properties(schema).items():
        if name in SETUP_KEYS or name in NOT_TUNED or not isinstance(prop, Mapping):
            continue
        param = param_from_property(name, prop)
        if param is not None and not (param.kind == CHOICE and len(param.choices) < 2):
            space[name] = param
    return space


# ----------------------------------------------------------------------------- --param
def _bad(spec: str, what: str, hint: str | None = None) -> InputError:
    return InputError(f"--param {spec}: {what}", hint)


def _parse_number(text: str, integer: bool, spec: str, name: str) -> int | float:
    try:
        value: int | float = int(text) if integer else float(text)
    except ValueError:
        kind = "an integer" if integer else "a number"
        raise _bad(spec, f"{name} is {kind} in config.jsonschema; {text!r} is not") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise _bad(spec, f"{name}: {text!r} is not a finite number")
    return value


def _check_inside(spec: str, name: str, prop: Mapping[str, Any], value: float) -> None:
    low, high, exclusive = schema_bounds(prop)
    below = low is not None and (value <= low if exclusive else value < low)
    if below or (high is not None and value > high):
        shown = f"{'(' if exclusive else '['}{_text(low) if low is not None else '-inf'}, " \
                f"{_text(high) if high is not None else 'inf'}]"
        raise _bad(spec, f"{_text(value)} is outside {name}'s bounds {shown} in config.jsonschema",
                   "keep the range inside the form's bounds (or change the schema)")


def _choice(text: str, prop: Mapping[str, Any], spec: str, name: str) -> Any:
    kind = prop.get("type")
    enum = prop.get("enum")
    value: Any = text
    if kind == "boolean":
        if text.lower() not in ("true", "false"):
            raise _bad(spec, f"{name} is a boolean; use true,false")
        value = text.lower() == "true"
    elif kind in ("integer", "number"):
        value = _parse_number(text, kind == "integer", spec, name)
        _check_inside(spec, name, prop, value)
    if isinstance(enum, list) and value not in enum:
        raise _bad(spec, f"{text!r} is not one of {name}'s values: "
                         f"{', '.join(_text(v) for v in enum)}")
    return value


def parse_param(spec: str, schema: Mapping[str, Any]) -> Param:
    """One ``--param`` (module doc); InputError naming the parameter when it is bad."""
    name, sep, value = spec.partition("=")
    name = name.strip()
    props = _properties(schema)
    if not sep or not name or not value.strip():
        raise _bad(spec, "expected NAME=LOW:HIGH[:log], NAME=a,b,c or NAME=value")
    prop = props.get(name)
    if name in SETUP_KEYS:
        raise _bad(spec, f"{name} is read by setup.py (the dataset split), not by train.py; "
                         "it cannot be swept")
    if not isinstance(prop, Mapping):
        known = ", ".join(n for n in props if n not in SETUP_KEYS)
        raise _bad(spec, f"{name} is not a parameter of config.jsonschema", f"known: {known}")
    kind = prop.get("type")
    if ":" in value and "," not in value:
        parts = value.split(":")
        log = len(parts) == 3 and parts[2].strip().lower() == "log"
        if len(parts) not in (2, 3) or (len(parts) == 3 and not log):
            raise _bad(spec, "a range is LOW:HIGH or LOW:HIGH:log")
        if kind not in ("integer", "number") or isinstance(prop.get("enum"), list):
            raise _bad(spec, f"{name} is a {kind or 'untyped'} parameter, not a number: "
                             "a range needs numbers", f"list its values: --param {name}=a,b")
        integer = kind == "integer"
        low = _parse_number(parts[0].strip(), integer, spec, name)
        high = _parse_number(parts[1].strip(), integer, spec, name)
        if high <= low:
            raise _bad(spec, f"{name}: LOW must be less than HIGH")
        _check_inside(spec, name, prop, low)
        _check_inside(spec, name, prop, high)
        if log and low <= 0:
            raise _bad(spec, f"{name}: a log scale needs LOW > 0")
        return Param(name, INT if integer else FLOAT, low if integer else float(low),
                     high if integer else float(high), log=log)
    choices = tuple(_choice(v.strip(), prop, spec, name) for v in value.split(","))
    if len(set(map(repr, choices))) != len(choices):
        raise _bad(spec, f"{name}: a value is listed twice")
    return Param(name, CHOICE, choices=choices)


def narrow(space: Mapping[str, Param], params: Iterable[Param]) -> dict[str, Param]:
    """``space`` with each given parameter replacing (or adding) its entry."""
    out = dict(space)
    for param in params:
        out[param.name] = param
    return out


def read_sweep_file(path: Path, schema: Mapping[str, Any]) -> tuple[list[Param], dict[str, Any]]:
    """A sweep file (YAML or JSON): ``params: {NAME: "LOW:HIGH[:log]" | [a, b] | value}`` and
    optional ``trials``, ``minimize``, ``parallel``. Returns the parameters and the options."""
    import yaml

    text = limits.read_text(path, max_bytes=MAX_SWEEP_FILE, what=str(path))
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not YAML/JSON ({exc.__class__.__name__})",
                         "see tc sweep --help for the sweep file's form") from None
    if not isinstance(data, dict) or not isinstance(data.get("params", {}), dict):
        raise InputError(f"{path}: expected a mapping with 'params: {{NAME: RANGE or LIST}}'")
    unknown = sorted(set(data) - {"params", "trials", "minimize", "parallel"})
    if unknown:
        raise InputError(f"{path}: unknown key(s) {', '.join(map(str, unknown))}",
                         "allowed: params, trials, minimize, parallel")
    params = []
    for name, value in (data.get("params") or {}).items():
        if isinstance(value, list):
            value = ",".join(_text(v) for v in value)
        params.append(parse_param(f"{name}={_text(value)}", schema))
    options = {k: data[k] for k in ("trials", "minimize", "parallel") if k in data}
    for key in ("trials", "parallel"):
        if key in options and (isinstance(options[key], bool) or not isinstance(options[key], int)
                               or options[key] < 1):
            raise InputError(f"{path}: {key} must be a positive integer")
    if "minimize" in options and not isinstance(options["minimize"], bool):
        raise InputError(f"{path}: minimize must be true or false")
    return params, options


def default_point(space: Mapping[str, Param], config: Mapping[str, Any]) -> dict[str, Any] | None:
    """The current train_config.json's values of the searched parameters (the sweep's first
    trial: the baseline). A number outside a narrowed range is kept (the default config is the
    yardstick); None when a value is missing, of the wrong type, or not one of the choices."""
    point: dict[str, Any] = {}
    for name, param in space.items():
        if param.fixed:
            continue
        value = config.get(name)
        if param.kind == CHOICE:
            if not param.contains(value):
                return None
        elif isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value) or (param.kind == INT and not isinstance(value, int)):
            return None
        point[name] = value
    return point


def trial_config(config: Mapping[str, Any], values: Mapping[str, Any],
                 space: Mapping[str, Param]) -> dict[str, Any]:
    """train_config.json for a trial: the current file with the trial's values (file order
    kept, new keys at the end) and the fixed parameters."""
    out = dict(config)
    for name, param in space.items():
        if param.fixed:
            out[name] = param.choices[0]
    out.update(values)
    return out


def with_fixed(space: Mapping[str, Param]) -> tuple[dict[str, Param], dict[str, Any]]:
    """(the searched parameters, the fixed values)."""
    searched = {n: p for n, p in space.items() if not p.fixed}
    fixed = {n: p.choices[0] for n, p in space.items() if p.fixed}
    return searched, fixed


__all__ = ["CHOICE", "FLOAT", "INT", "NOT_TUNED", "Param", "default_point", "narrow",
           "param_from_property", "parse_param", "read_sweep_file", "schema_bounds",
           "space_from_schema", "trial_config", "with_fixed"]
