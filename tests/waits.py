"""Wait for an event, not for the clock: the helpers every test that signals or waits uses.

A test that sends a signal, connects to a server or reads a subprocess waits for the *event*
it needs (a line on the subprocess's output, a file appearing, a socket accepting). The
deadline each helper takes is a safety net against a hang, never the thing that decides:
it is generous (minutes) so that a machine under load (two busy cores, a second test run)
only makes the test slower, never red. When the deadline passes, the helper fails with what
it saw so far, so a hang is diagnosable.

Deadlines are measured with :func:`time.monotonic` (never wall-clock time).
"""

from __future__ import annotations

import queue
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

#: The safety net of every wait here (seconds): far above what an event takes on a loaded
#: 2-core machine, so only a real hang reaches it.
SAFETY_NET = 300.0


class LineReader:
    """Read a subprocess's text output on a thread, so that waiting for a line has a deadline.

    ``proc`` must have been started with ``stdout=subprocess.PIPE`` and ``text=True`` (stderr
    merged into stdout, or read separately by the caller). Every line read is kept in
    :attr:`lines`; :meth:`rest` returns what comes after the process exits.
    """

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None, "start the process with stdout=subprocess.PIPE"
        self.proc = proc
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, predicate: Callable[[str], bool] | str, timeout: float = SAFETY_NET) -> str:
        """The first new line for which ``predicate`` holds (a string: the line contains it).

        Fails (AssertionError with the lines seen) when the process ends first or nothing
        matches before ``timeout``."""
        match = (lambda line: predicate in line) if isinstance(predicate, str) else predicate
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no matching line after {timeout:g} s; saw:\n{self.text()}")
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                self._queue.put(None)  # keep the end visible to later calls
                raise AssertionError(f"the process ended (exit {self.proc.wait()}) before the "
                                     f"line came; saw:\n{self.text()}")
            self.lines.append(line)
            if match(line):
                return line

    def readline(self, timeout: float = SAFETY_NET) -> str:
        """The next line (fails when the process ends first or after ``timeout``)."""
        return self.wait_for(lambda _line: True, timeout)

    def finish(self, timeout: float = SAFETY_NET) -> str:
        """Wait for the process to exit; return everything it printed after the lines read so far."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"still running after {timeout:g} s (hang); saw:\n{self.text()}") from None
        self._thread.join(timeout=timeout)
        rest: list[str] = []
        while True:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                break
            if line is None:
                self._queue.put(None)
                break
            rest.append(line)
        self.lines.extend(rest)
        return "".join(rest)

    def text(self) -> str:
        return "".join(self.lines)


def wait_for_path(path: Path, timeout: float = SAFETY_NET,
                  proc: subprocess.Popen[bytes] | subprocess.Popen[str] | None = None) -> None:
    """Wait until ``path`` exists (fails after ``timeout``, or when ``proc`` ends first)."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the process ended (exit {proc.returncode}) before {path} appeared")
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear within {timeout:g} s")
        time.sleep(0.02)


def wait_until(condition: Callable[[], bool], what: str, timeout: float = SAFETY_NET,
               interval: float = 0.05) -> None:
    """Poll ``condition`` until it holds (fails with ``what`` after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(interval)


def wait_for_port(host: str, port: int, timeout: float = SAFETY_NET) -> None:
    """Wait until ``host:port`` accepts a TCP connection."""

    def accepts() -> bool:
        try:
            with socket.create_connection((host, port), timeout=5):
                return True
        except OSError:
            return False

    wait_until(accepts, f"{host}:{port} accepting connections", timeout)
