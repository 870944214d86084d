# Managed by tc (`tc update` brings its new versions) — edit train.py instead.
"""failure.json: why a train container failed, written next to the model (docs/explain.md).

Run by docker-entrypoint.sh (platform contract §4) when a stage fails::

    python failure.py --stage setup --exit-code 2 --log /tmp/tc-entrypoint.log
    python failure.py --clear          # at the start: a previous run's failure.json goes

It records the stage (mount/setup/train/export), the exit code or the signal that ended the
stage, and the last lines of the log; never on success (exit code 0 writes nothing). It does
not recognise causes itself: the catalogue of failure signatures lives once, in tc
(``tc explain failure.json`` reads this file). The folder is ``$TC_FAILURE_DIR``, else
``$TRAIN_ROOT``, else ``/train`` (where the templates' model_filepath points; custom.json is
not in the image). Only the standard library; never raises into the entrypoint: a problem
here is one stderr line and exit code 0, so the stage's own exit code is what the run ends
with.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import stat
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any

SCHEMA = "tc-failure/1"
FILE_NAME = "failure.json"
STAGES = ("mount", "setup", "train", "export")
#: Lines of the log kept, and the longest line kept (characters).
TAIL_LINES = 50
MAX_LINE = 500
#: Bytes of the log read from its end (the tail is all that is kept).
MAX_TAIL_BYTES = 256 * 1024


def signal_of(exit_code: int) -> str | None:
    """The signal that ended a process, from a shell exit code (128+N) or a negative code."""
    number = -exit_code if exit_code < 0 else exit_code - 128 if exit_code > 128 else 0
    if number <= 0:
        return None
    try:
        return signal.Signals(number).name
    except ValueError:
        return None


def tail(path: Path, count: int = TAIL_LINES) -> list[str]:
    """The last ``count`` lines of a regular file (at most MAX_TAIL_BYTES read); [] if none."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return []
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return []
        start = max(0, st.st_size - MAX_TAIL_BYTES)
        os.lseek(fd, start, os.SEEK_SET)
        data = os.read(fd, MAX_TAIL_BYTES)
    finally:
        os.close(fd)
    lines = data.decode("utf-8", "replace").splitlines()
    if start > 0 and lines:
        lines = lines[1:]  # the first line was cut
    return [ln[:MAX_LINE] for ln in deque(lines, maxlen=count)]


def document(stage: str, exit_code: int, last_lines: list[str], *,
             now: float | None = None) -> dict[str, Any]:
    """The failure.json content (schema tc-failure/1)."""
    if stage not in STAGES:
        raise ValueError(f"stage {stage!r} is not one of {', '.join(STAGES)}")
    return {
        "schema": SCHEMA,
        "stage": stage,
        "exit_code": exit_code,
        "signal": signal_of(exit_code),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        "dataset_id": os.environ.get("DATASET_ID") or None,
        "last_lines": last_lines,
        "explain": "tc explain failure.json",
    }


def target_dir() -> Path:
    return Path(os.environ.get("TC_FAILURE_DIR") or os.environ.get("TRAIN_ROOT") or "/train")


def write(folder: Path, doc: dict[str, Any]) -> Path:
    """Write ``folder/failure.json`` atomically (a temporary file, then rename), readable by
    all like the model beside it (mkstemp's 0600 would hide it from the host user when the
    container runs as root)."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".failure.", suffix=".tmp", dir=folder)
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
        os.replace(tmp, folder / FILE_NAME)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return folder / FILE_NAME


def is_ours(path: Path) -> bool:
    """True when ``path`` is a failure.json this module wrote (judged by its content)."""
    try:
        if not path.is_file() or path.is_symlink() or path.stat().st_size > 1 << 20:
            return False
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and doc.get("schema") == SCHEMA


def clear(folder: Path) -> bool:
    """Remove a previous run's failure.json (only one this module wrote); True if removed."""
    path = folder / FILE_NAME
    if is_ours(path):
        path.unlink()
        return True
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="failure.py", description=__doc__.splitlines()[0])
    parser.add_argument("--stage", choices=STAGES)
    parser.add_argument("--exit-code", type=int)
    parser.add_argument("--log", type=Path, help="the log whose last lines are kept")
    parser.add_argument("--clear", action="store_true", help="remove a previous failure.json")
    args = parser.parse_args(argv)
    folder = target_dir()
    try:
        if args.clear:
            clear(folder)
            return 0
        if args.stage is None or args.exit_code is None:
            parser.error("--stage and --exit-code are required (or --clear)")
        if args.exit_code == 0:
            return 0  # never on success
        lines = tail(args.log) if args.log is not None else []
        path = write(folder, document(args.stage, args.exit_code, lines))
        print(f"[entrypoint] failure recorded in {path} (tc explain {FILE_NAME})", file=sys.stderr)
    except OSError as exc:
        print(f"[entrypoint] warning: failure.json not written: {exc}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
