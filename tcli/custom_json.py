"""A template's ``config/custom.json``: the one reading of it for validate and dev-run.

The platform reads ``model_filepath`` (where train.py saves the model), ``score_name`` and
``score_regexp`` (group 1 of its first match on the log is the score). :func:`read_custom`
raises InputError for dev-run; :func:`compile_score_regexp` is the rule both use.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from tcli.contract import (
    CUSTOM_FIELDS,
    CUSTOM_JSON,
    MODEL_FILEPATH_KEY,
    SCORE_NAME_KEY,
    SCORE_REGEXP_KEY,
)
from tcli.errors import InputError
from tcli.project import TemplateRef
from tcli.safety import jsonload

#: The fields tc needs, each a non-empty string.
FIELDS = CUSTOM_FIELDS


@dataclass(frozen=True)
class CustomJson:
    """The template's ``config/custom.json``."""

    model_filepath: str
    score_name: str
    score_regexp: re.Pattern[str]  # match it through tcli.safety.rx.search (time budget)


def compile_score_regexp(text: str) -> re.Pattern[str] | re.error | None:
    """The compiled score regexp; the ``re.error`` when it does not compile; None when it has
    no capture group (the backend reads the score from group 1). Match it only through
    :func:`tcli.safety.rx.search` (a time budget: the pattern is untrusted)."""
    try:
        compiled = re.compile(text)
    except re.error as exc:
        return exc
    return compiled if compiled.groups >= 1 else None


def read_custom(template: TemplateRef) -> CustomJson:
    """Read ``custom.json``; InputError naming the file and field when unusable."""
    path = template.config_dir / CUSTOM_JSON
    try:
        raw = path.read_bytes()
        try:
            data = json.loads(raw.decode("utf-8"))
        except RecursionError:
            data = None
        jsonload.loads(raw, name=str(path))  # duplicate keys, depth, size: InputError
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text", "save it as UTF-8") from None
    except FileNotFoundError:
        raise InputError(f"{path}: missing", "every template needs config/custom.json") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: invalid JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object")
    values: dict[str, str] = {}
    for key in FIELDS:
        value = data.get(key)
        if not isinstance(value, str) or not value:
            raise InputError(f"{path}: field {key!r} must be a non-empty string")
        values[key] = value
    pattern = compile_score_regexp(values[SCORE_REGEXP_KEY])
    if isinstance(pattern, re.error):
        raise InputError(
            f"{path}: field 'score_regexp' is not a valid regular expression ({pattern})"
        )
    if pattern is None:
        raise InputError(
            f"{path}: field 'score_regexp' has no capture group",
            "the platform reads the score from the first group, e.g. 'Accuracy (\\d+[.]\\d+)'",
        )
    return CustomJson(values[MODEL_FILEPATH_KEY], values[SCORE_NAME_KEY], pattern)
