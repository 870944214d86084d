"""A trial's metrics.jsonl, followed as the container writes it (untrusted input)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tcli.sweep.metrics import MetricsFollower


def epoch(n: int, metric: float | str | None) -> str:
    return json.dumps({"kind": "epoch", "epoch": n, "epochs": 3, "metric": metric}) + "\n"


def test_follows_the_file_as_it_grows(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    f = MetricsFollower(path)
    assert f.poll() == []  # not written yet
    path.write_text(epoch(1, 0.5) + epoch(2, 0.6)[:10])  # the second line is half-written
    assert f.poll() == [(1, 0.5)]
    with open(path, "a") as fh:
        fh.write(epoch(2, 0.6)[10:] + epoch(2, 0.9))  # a repeated epoch counts once
    assert f.poll() == [(2, 0.6)]
    assert f.poll() == []


def test_garbage_nan_and_long_lines_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text("not json\n" + '{"kind": "epoch", "epoch": 1, "metric": NaN}\n'
                    + epoch(2, "0.7") + epoch(-1, 0.1) + '{"kind": "epoch", "epoch": true, '
                    '"metric": 1}\n' + "[1, 2]\n" + "x" * 5000 + "\n" + epoch(3, 0.8)
                    + '{"kind": "final", "metric": 0.8}\n')
    f = MetricsFollower(path, max_line=1000)
    assert f.poll() == [(3, 0.8)]
    assert f.ignored >= 5


def test_a_line_longer_than_the_cap_while_still_growing(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text("y" * 3000)
    f = MetricsFollower(path, max_line=1000)
    assert f.poll() == []
    with open(path, "a") as fh:
        fh.write("y" * 10 + "\n" + epoch(1, 0.4))
    assert f.poll() == [(1, 0.4)]
    assert len(f.partial) == 0


def test_total_cap_and_links(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(epoch(i, 0.1 * i) for i in range(1, 50)))
    f = MetricsFollower(path, max_bytes=200)
    got = f.poll()
    assert 0 < len(got) < 5
    assert f.poll() == [] and f.capped
    secret = tmp_path / "secret"
    secret.write_text(epoch(1, 0.9))
    link = tmp_path / "link.jsonl"
    os.symlink(secret, link)
    assert MetricsFollower(link).poll() == []  # a link is never followed
    fifo = tmp_path / "fifo.jsonl"
    os.mkfifo(fifo)
    assert MetricsFollower(fifo).poll() == []  # never blocks on a pipe
