"""tc base-image: build the local stand-ins for NVIDIA's PyTorch base image (no registry)."""

from __future__ import annotations

from pathlib import Path

import typer

from tcli.ui import console

EPILOG = (
    "Flavors: sklearn (Debian + Python + scikit-learn/ONNX, ~0.6 GB) serves the scikit-learn "
    "template; torch (+ torch/torchvision, ~6.5 GB) the torchvision templates. The host's pip "
    "resolves the wheels with its own configuration; the image installs them with no network. "
    "The last line printed is the image tag. Details: docs/base-image.md"
)


def command(
    flavor: str = typer.Option(
        "torch", "--flavor", "-f", help="sklearn, torch, or all.", metavar="FLAVOR",
    ),
    wheelhouse: Path = typer.Option(
        None, "--wheelhouse", metavar="DIR",
        help="Install from this folder of wheels instead of resolving with the host's pip.",
    ),
    force: bool = typer.Option(False, "--force", help="Rebuild even when the image exists."),
    tag: str = typer.Option(None, "--tag", hidden=True, help="Another tag (tests)."),
) -> None:
    """Build (or reuse) a local stand-in base image.

    Example: tc base-image --flavor sklearn
    """
    from tcli import baseimage, engine

    names = list(baseimage.FLAVORS) if flavor == "all" else [baseimage.flavor_named(flavor).name]
    if wheelhouse is not None:
        baseimage.check_wheelhouse(wheelhouse)  # before any Docker work
    client = engine.connect()
    errc = console.err()
    tags = []
    for name in names:
        result = baseimage.ensure_stand_in(
            client, baseimage.FLAVORS[name], force=force, wheelhouse=wheelhouse,
            tag=tag if len(names) == 1 else None,
            on_status=lambda line: errc.print(f"[base-image] {line}", markup=False, highlight=False),
        )
        state = f"built in {result.seconds:.0f} s" if result.built else "present"
        errc.print(f"[base-image] {result.tag}: {state} ({result.size / 1e9:.1f} GB)", markup=False)
        tags.append(result.tag)
    for tag in tags:
        console.out().print(tag, markup=False, highlight=False)
