"""The model formats table ``tc model export`` left (``<output>/formats/formats.json``), for the
report: read as untrusted data (size cap, depth cap), every row reduced to known keys with
plain values; anything else is a note, never an error."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from tcli.contract import EXPORT_FORMATS_DIR, EXPORT_FORMATS_RECORD
from tcli.errors import InputError
from tcli.safety import jsonload

MAX_BYTES = 1024 * 1024
MAX_ROWS = 32
NUMBERS = ("size", "metric", "delta", "max_abs_diff", "latency_ms_b1", "latency_ms_b32")
TEXTS = ("format", "status", "note")


def _number(v: Any) -> float | None:
    ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    return float(v) if ok else None


def read(train_dir: Path, notes: list[str]) -> dict[str, Any] | None:
    """``{"metric", "tolerance", "rows"}`` or None (no table, or one that is not usable)."""
    path = train_dir / EXPORT_FORMATS_DIR / EXPORT_FORMATS_RECORD
    if not path.is_file() and not path.is_symlink():
        return None
    try:
        data = jsonload.load(path, max_bytes=MAX_BYTES, name=EXPORT_FORMATS_RECORD)
    except InputError as exc:
        notes.append(f"{exc.message}; model formats left out")
        return None
    rows = data.get("rows") if isinstance(data, dict) else None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        notes.append(f"{EXPORT_FORMATS_RECORD}: no list of rows; model formats left out")
        return None
    clean = [{**{k: str(r.get(k) or "")[:1000] for k in TEXTS},
              **{k: _number(r.get(k)) for k in NUMBERS}} for r in rows[:MAX_ROWS]]
    metric = data.get("metric") if isinstance(data.get("metric"), str) else "metric"
    return {"metric": str(metric)[:40], "tolerance": _number(data.get("tolerance")), "rows": clean}
