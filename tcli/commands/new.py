"""``tc new``: render a train-container project from tc's Copier scaffolds."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from tcli.contract import TEMPLATE_NAMES
from tcli.ui import console

EPILOG = (
    "Example: tc new my-container --template classification "
    "--provider Torchvision --category Classification --architecture MobileNetV3"
)


def command(
    path: Path = typer.Argument(..., help="Folder to create (must not exist or be empty)."),
    template: str = typer.Option(
        None, "--template", "-t",
        help=f"Training code to start from: {', '.join(TEMPLATE_NAMES)}.",
    ),
    provider: str = typer.Option(None, help="Provider folder name, e.g. Torchvision."),
    category: str = typer.Option(None, help="Category folder name, e.g. Classification."),
    architecture: str = typer.Option(None, help="Architecture folder name, e.g. MobileNetV3."),
    name: str = typer.Option(None, "--name", help="Project name (default: the folder name)."),
    base_image: str = typer.Option(
        None, "--base-image", help="Default BASE_IMAGE build arg (NVIDIA's PyTorch image)."
    ),
    defaults: bool = typer.Option(
        False, "--defaults", help="Never prompt: use defaults for every question not given."
    ),
    force: bool = typer.Option(
        False, "--force", help="Render into a non-empty folder, overwriting tc's files."
    ),
    git: bool = typer.Option(
        True, "--git/--no-git", help="git init the project and commit it (tc update needs git)."
    ),
) -> None:
    """Create a train-container project in the platform's layout.

    Renders common/, datasets/, export/, validation/ and
    templates/PROVIDER/CATEGORY/ARCHITECTURE/{config,docker}/ with Copier. Without flags
    it asks Copier's questions; with --defaults or any of the flags it never prompts.
    """
    from tcli import scaffold

    answers: dict[str, Any] = {"project_name": name or path.name}
    for key, value in (
        ("template", template), ("provider", provider), ("category", category),
        ("architecture", architecture), ("base_image", base_image),
    ):
        if value is not None:
            answers[key] = value
    flags_given = len(answers) > 1
    interactive = not (defaults or flags_given) and sys.stdin.isatty()
    result = scaffold.render(
        path, answers, force=force, defaults=not interactive, git_init=git
    )
    a = result.answers
    console.success(
        f"Created {result.path} ({a['template']}: {a['provider']}/{a['category']}/{a['architecture']}, "
        f"{len(result.files)} files{', git initialised' if result.git_initialised else ''})"
    )
    console.print(
        f"Next: cd {path} && tc validate && tc dev-run --demo && tc package", markup=False
    )
