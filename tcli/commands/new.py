"""tc new (placeholder until scaffold core lands)."""

import typer


def command(path: str = typer.Argument(..., help="Folder to create")) -> None:
    """Create a train-container project."""
    raise NotImplementedError
