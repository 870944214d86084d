"""Ctrl-C during a run: the containers it created are stopped and removed (``--keep``: kept,
stopped) while further Ctrl-Cs are ignored, then :class:`Aborted` (exit 130)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tcli.devrun.events import DevRunEvents
from tcli.errors import Aborted


@contextmanager
def no_interrupts() -> Iterator[None]:
    """Ignore Ctrl-C while cleaning up after one."""
    previous = signal.getsignal(signal.SIGINT)
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def interrupted(containers: list[Any], keep: bool, events: DevRunEvents) -> Aborted:
    """Stop (and, without ``keep``, remove) ``containers`` after a Ctrl-C; the error to raise."""
    from tcli import engine

    with no_interrupts():
        for container in containers:
            engine.stop(container, timeout=2)
            if keep:
                events.line(f"stopped container {container.name} (kept: --keep)")
            else:
                engine.remove(container)
                events.line(f"stopped and removed container {container.name}")
    if not (keep and containers):
        return Aborted("interrupted")
    names = [str(container.name) for container in containers]
    if len(names) == 1:
        return Aborted(f"interrupted; container {names[0]} kept (--keep)",
                       f"inspect it with 'docker logs {names[0]}'")
    return Aborted(f"interrupted; containers {', '.join(names)} kept (--keep)",
                   f"inspect them with 'docker logs {names[0]}' (and the others)")
