"""``tc doctor``: check Docker, GPUs, disk, base image and FUSE for ``tc dev-run``."""

from __future__ import annotations

import typer

from tcli import console
from tcli.errors import ChecksFailed

EPILOG = "Exit code 1 when a check fails (warnings do not fail). Details: docs/doctor.md"

_MARK = {"ok": "ok  ", "warn": "warn", "fail": "FAIL"}
_STYLE = {"ok": "ok", "warn": "warn", "fail": "error"}


def command(
    base_image: str = typer.Option(
        None, "--base-image", envvar="TC_BASE_IMAGE", metavar="IMAGE",
        help="Base image to look for (default: NVIDIA's PyTorch image).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the checks as JSON."),
) -> None:
    """Check this machine for tc dev-run, with a fix for each problem.

    Checks the Docker daemon and its version, the NVIDIA runtime and GPUs, free disk space
    where Docker stores images, whether the base image is present, and FUSE.

    Example: tc doctor --base-image tc-local/pytorch:2.14.1
    """
    from tcli.doctor import diagnose

    report = diagnose(base_image=base_image)
    if as_json:
        console.out().print(report.to_json(), markup=False, highlight=False, soft_wrap=True)
    else:
        con = console.out()
        for check in report.checks:
            con.print(
                f"{_MARK[check.status]}  {check.name:<11} {check.detail}",
                style=_STYLE[check.status], markup=False,
            )
            if check.fix:
                con.print(f"      {'':<11} fix: {check.fix}", markup=False)
        summary = "all checks passed" if report.ok else "some checks failed"
        warns = sum(1 for c in report.checks if c.status == "warn")
        con.print(f"{summary} ({warns} warnings)", markup=False)
    if not report.ok:
        raise ChecksFailed("some checks failed")
