"""The one exception hierarchy of tc, and its one mapping to exit codes.

Core modules raise these; only ``tcli.cli`` turns them into messages and exit codes.
A message is one line that names the file or field and says what to do.
"""

from __future__ import annotations


class TcError(Exception):
    """Base of every error tc reports to a user (exit 1)."""

    exit_code = 1
    #: True when the command already showed the problem (then no ``error:`` line is added)
    reported = False

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class InputError(TcError):
    """Unusable input: bad flag value, missing path, not a tc project (exit 2)."""

    exit_code = 2


class ValidationFailed(TcError):
    """The project or ZIP has error findings (exit 1)."""

    exit_code = 1


class DockerError(TcError):
    """The Docker daemon is unreachable or refused an operation (exit 3)."""

    exit_code = 3


class BuildFailed(TcError):
    """``docker build`` failed (exit 4)."""

    exit_code = 4


class RunFailed(TcError):
    """The train container exited non-zero, was OOM-killed, or produced no model (exit 5)."""

    exit_code = 5


class ChecksFailed(TcError):
    """A report already shown to the user has failures (``tc doctor``; exit 1, no extra line)."""

    exit_code = 1
    #: the command printed the failures itself: cli.py adds no ``error:`` line
    reported = True


class Aborted(TcError):
    """The user interrupted tc (Ctrl-C) (exit 130)."""

    exit_code = 130


#: Every error class and its exit code (docs/errors: the one mapping; cli.py applies it).
EXIT_CODES: dict[type[TcError], int] = {
    cls: cls.exit_code
    for cls in (TcError, InputError, ValidationFailed, ChecksFailed, DockerError, BuildFailed,
                RunFailed, Aborted)
}
