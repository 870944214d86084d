"""Reading the container's log: when training began, and the score (custom.json's regexp)."""

from __future__ import annotations

import math
import re

#: A log line that says the training stage began (the entrypoint runs setup.py, then train.py).
TRAIN_MARKER = re.compile(r"\btrain\.py\b")
#: Lines searched together for the score regexp (a regexp may span a line break).
SCORE_WINDOW = 20
LAST_LINES = 15


def round_score(raw: str) -> float | None:
    """The score as the platform displays it (rounded to 3 decimals), None if not a number."""
    try:
        value = float(raw)
    except ValueError:
        return None
    return round(value, 3) if math.isfinite(value) else None


def short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class LogWatcher:
    """Follows the container's log lines: the score and when training began."""

    def __init__(self, score_regexp: re.Pattern[str]) -> None:
        self.score_regexp = score_regexp
        self.lines: list[str] = []
        self.score_raw: str | None = None
        self.train_started: float | None = None

    def feed(self, line: str, now: float) -> str | None:
        """Record one line; returns the score text the first time the regexp matches."""
        self.lines.append(line)
        if self.train_started is None and TRAIN_MARKER.search(line):
            self.train_started = now
        if self.score_raw is None:
            window = "\n".join(self.lines[-SCORE_WINDOW:]) + "\n"
            match = self.score_regexp.search(window)
            if match and match.group(1) is not None:
                self.score_raw = match.group(1)
                return self.score_raw
        return None

    def final_score(self) -> str | None:
        """The score the platform would read: the regexp's first match on the whole log."""
        match = self.score_regexp.search("\n".join(self.lines) + "\n")
        if match and match.group(1) is not None:
            return match.group(1)
        return self.score_raw

    def last_lines(self, count: int = LAST_LINES) -> list[str]:
        return self.lines[-count:]
