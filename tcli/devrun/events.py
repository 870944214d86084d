"""What dev-run tells whoever shows its progress: a protocol of events, no drawing here.

:class:`tcli.ui.devrun_view.DevRunView` implements it with Rich; tests can record events.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from tcli.devrun.summary import Summary
    from tcli.engine import BuildEvent
    from tcli.project import Project


class DevRunEvents(Protocol):
    """Progress of a dev-run, in the order it happens."""

    def line(self, text: str, style: str | None = None) -> None:
        """A progress line (``style``: info, ok, warn, error, dim)."""

    def log(self, text: str) -> None:
        """One line of the container's log."""

    def warn(self, text: str) -> None:
        """A warning (the run goes on)."""

    def build_started(self) -> None:
        """``docker build`` begins; :meth:`build_event` follows for each builder event."""

    def build_event(self, event: BuildEvent) -> None:
        """A step began, was cached, or printed output."""

    def build_finished(self) -> None:
        """``docker build`` ended (successfully or not)."""

    def summary(self, summary: Summary, project: Project) -> None:
        """The run ended: its result."""
