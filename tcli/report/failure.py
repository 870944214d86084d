"""The failure a train container recorded (``.tc/train/failure.json``), explained for the report.

The file is written by the image's runtime (``common/failure.py``, schema ``tc-failure/1``,
docs/explain.md) and is **untrusted**: read through :mod:`tcli.safety.limits` (a regular file,
at most :data:`MAX_FAILURE_BYTES`), parsed by :func:`tcli.explain.diagnose.read_failure_json`
(JSON depth caps, schema, stage, exit_code and last_lines checked), every other field coerced to
a short string or dropped. What the catalogue recognises in its last lines is what the report
shows: cause, evidence and fix. The page renders the values through Jinja2's autoescape.
A file that fails these checks is a note in the report, never a failed report.
"""

from __future__ import annotations

from typing import Any

from tcli.errors import InputError
from tcli.explain.diagnose import explain_lines, read_failure_json
from tcli.report.artifacts import Run
from tcli.safety import limits

FAILURE_FILE = "failure.json"
#: largest failure.json read (the runtime writes 50 lines of at most 500 characters: ~30 KB)
MAX_FAILURE_BYTES = 256 * 1024
#: longest signal/time string kept
_SHORT = 40


def _short(value: Any) -> str | None:
    return value[:_SHORT] if isinstance(value, str) and value else None


def failure_part(run: Run) -> dict[str, Any] | None:
    """The report's ``failure`` part, or None when the run left no failure.json (or an unusable
    one: then a note says why)."""
    path = run.train_dir / FAILURE_FILE
    if not (path.exists() or path.is_symlink()):
        return None
    name = f".tc/train/{FAILURE_FILE}"
    try:
        doc = read_failure_json(limits.read_bytes(path, max_bytes=MAX_FAILURE_BYTES, what=name),
                                name)
    except InputError as exc:
        run.notes.append(f"{name} not shown: {exc.message}")
        return None
    lines = [str(x) for x in doc.get("last_lines", [])][-200:]
    result = explain_lines(lines, source=name, exit_code=doc.get("exit_code"),
                           stage=doc.get("stage"))
    return {
        "file": name, "stage": result.stage, "exit_code": result.exit_code,
        "signal": _short(doc.get("signal")), "time": _short(doc.get("time")),
        "recognised": result.recognised,
        "findings": [f.as_dict() for f in result.findings],
        "last_lines": result.last_lines,
    }
