"""``tc doctor``: check Docker, GPUs, disk, base image and FUSE for ``tc dev-run``."""

from __future__ import annotations

import typer

from tcli.errors import ChecksFailed

EPILOG = "Exit code 1 when a check fails (warnings do not fail). Details: docs/doctor.md"


def command(
    base_image: str = typer.Option(
        None, "--base-image", envvar="TC_BASE_IMAGE", metavar="IMAGE",
        help="Base image to look for (default: NVIDIA's PyTorch image).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the checks as JSON."),
    probe_image: bool = typer.Option(
        False, "--probe-image",
        help="Run the base image's python once (no network) to read its torch's GPU "
             "architectures, instead of tc's table.",
    ),
) -> None:
    """Check this machine for tc dev-run, with a fix for each problem.

    Checks the Docker daemon and its version, the NVIDIA runtime and GPUs, the driver against
    the base image's CUDA and each GPU against its torch build, /dev/shm, free disk space where
    Docker stores images, whether the base image is present, and FUSE.

    Example: tc doctor --base-image tc-local/pytorch:2.14.1
    """
    from tcli.doctor import diagnose
    from tcli.ui import doctor_view, render

    report = diagnose(base_image=base_image, probe=probe_image)
    render.emit(report, as_json, doctor_view.show)
    if not report.ok:
        raise ChecksFailed("some checks failed")
