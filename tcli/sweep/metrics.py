"""Follow a trial's ``metrics.jsonl`` as the container writes it: the per-epoch val metric that
the pruner judges (docs/report.md: ``{"kind": "epoch", "epoch": N, "metric": X, ...}``).

The file is untrusted (a container wrote it): it is opened without following a link, only as a
regular file; read incrementally from the last offset, at most :data:`MAX_BYTES` in all and
:data:`MAX_LINE` per line (a longer line is skipped to its end); a line that is not a JSON object,
an epoch that is not a positive integer or a metric that is not a finite number is counted as
ignored, never raised. Memory stays bounded whatever the file holds.
"""

from __future__ import annotations

import contextlib
import math
import os
import stat
from pathlib import Path
from typing import Any

from tcli.report.artifacts import parse_lenient
from tcli.safety import jsonload

#: The most of one metrics.jsonl a sweep reads, and its longest line.
MAX_BYTES = 16 * 1024 * 1024
MAX_LINE = 64 * 1024
#: Epoch numbers beyond this are ignored (a pruner step is an int).
MAX_EPOCH = 1_000_000


def epoch_metric(record: Any) -> tuple[int, float] | None:
    """(epoch, val metric) of an epoch record, or None."""
    if not isinstance(record, dict) or record.get("kind") != "epoch":
        return None
    epoch, metric = record.get("epoch"), record.get("metric")
    if isinstance(epoch, bool) or not isinstance(epoch, int) or not 0 < epoch <= MAX_EPOCH:
        return None
    if isinstance(metric, bool) or not isinstance(metric, (int, float)):
        return None
    return (epoch, float(metric)) if math.isfinite(metric) else None


class MetricsFollower:
    """New ``(epoch, metric)`` pairs of one metrics.jsonl on each :meth:`poll`."""

    def __init__(self, path: Path, max_bytes: int = MAX_BYTES, max_line: int = MAX_LINE) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.max_line = max_line
        self.offset = 0
        self.partial = b""
        self.skipping = False  # inside a line longer than max_line
        self.ignored = 0
        self.capped = False
        self.seen: set[int] = set()
        #: the run's number of epochs, as its epoch records say (None: not said)
        self.epochs: int | None = None

    def _read_new(self) -> bytes:
        if self.capped:
            return b""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW
                         | getattr(os, "O_CLOEXEC", 0))
        except OSError:  # not there yet, a link, unreadable: nothing new
            return b""
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return b""
            if st.st_size < self.offset:  # rewritten from the start (a rerun): follow anew
                self.offset, self.partial, self.skipping = 0, b"", False
            want = min(st.st_size, self.max_bytes) - self.offset
            if want <= 0:
                self.capped = st.st_size > self.max_bytes
                return b""
            os.lseek(fd, self.offset, os.SEEK_SET)
            data = os.read(fd, want)
        finally:
            os.close(fd)
        self.offset += len(data)
        return data

    def poll(self) -> list[tuple[int, float]]:
        """The epoch records completed since the last call (each epoch once)."""
        data = self.partial + self._read_new()
        lines = data.split(b"\n")
        self.partial = lines.pop()
        if len(self.partial) > self.max_line:
            self.partial, self.skipping = b"", True
        found: list[tuple[int, float]] = []
        for line in lines:
            if self.skipping:
                self.skipping = False
                self.ignored += 1
                continue
            if not line.strip():
                continue
            if len(line) > self.max_line:
                self.ignored += 1
                continue
            record: Any = None
            with contextlib.suppress(jsonload.JsonRefused, ValueError):
                record = parse_lenient(line, self.path.name)
            pair = epoch_metric(record)
            if pair is None:
                self.ignored += record is None or (isinstance(record, dict)
                                                   and record.get("kind") == "epoch")
                continue
            total = record.get("epochs")
            if isinstance(total, int) and not isinstance(total, bool) and 0 < total <= MAX_EPOCH:
                self.epochs = total
            if pair[0] not in self.seen:
                self.seen.add(pair[0])
                found.append(pair)
        return found
