"""The Typer application: a thin layer that parses flags and calls the core.

Command modules live in ``tcli.commands`` (one per command) and import their heavy
dependencies (copier, docker, jsonschema, lxml) inside the function body, so that
``tc --help`` stays fast. Errors from the core are mapped to messages and exit codes here,
in one place.
"""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from tcli import __version__
from tcli.errors import TcError
from tcli.ui import console

F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(
    name="tc",
    help="tc: scaffold, validate, run and package train containers for the platform.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# (module in tcli.commands, command name) in the order `tc --help` lists them; a module with
# an ``app`` (a typer.Typer) instead of ``command`` is registered as a group of sub-commands
COMMANDS: list[tuple[str, str]] = [
    ("new", "new"),
    ("update", "update"),
    ("validate", "validate"),
    ("package", "package"),
    ("demo_data", "demo-data"),
    ("dev_run", "dev-run"),
    ("sweep", "sweep"),
    ("explain", "explain"),
    ("doctor", "doctor"),
    ("base_image", "base-image"),
    ("dataset", "dataset"),
    ("weights", "weights"),
    ("form", "form"),
    ("report", "report"),
    ("build", "build"),
    ("export", "export"),
    ("model", "model"),
]


def handle_errors(func: F) -> F:
    """Run a command, turning tc's errors into one-line messages and exit codes."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except TcError as exc:
            if not exc.reported:
                console.error(exc.message, exc.hint)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            console.error("interrupted")
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except Exception as exc:  # a bug in tc, not a user mistake: say so, keep it short
            if os.environ.get("TC_DEBUG"):
                raise
            console.error(
                f"internal error: {type(exc).__name__}: {exc}",
                "rerun with TC_DEBUG=1 for a traceback and report it",
            )
            raise typer.Exit(70) from None

    return wrapper  # type: ignore[return-value]


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"tc {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(
        False, "--version", "-V", help="Show tc's version and exit.",
        callback=_version_callback, is_eager=True,
    ),
) -> None:
    """tc: scaffold, validate, run and package train containers for the platform."""


def _register() -> None:
    for module_name, name in COMMANDS:
        module = importlib.import_module(f"tcli.commands.{module_name}")
        sub = getattr(module, "app", None)
        if isinstance(sub, typer.Typer):
            for info in sub.registered_commands:
                if info.callback is not None:
                    info.callback = handle_errors(info.callback)
            app.add_typer(sub, name=name)
            continue
        app.command(name, epilog=getattr(module, "EPILOG", None))(handle_errors(module.command))


_register()


def main() -> None:
    """Console-script entry point."""
    app(prog_name="tc")
