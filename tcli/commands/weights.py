"""tc weights add|list|verify|pull: pretrained weights pinned in a template's weights.lock.

A Typer sub-app (``app``); cli.py registers it under ``weights``. The core is
:mod:`tcli.weights.core`.
"""

from __future__ import annotations

from pathlib import Path

import typer

from tcli.ui import console, render

app = typer.Typer(
    name="weights", no_args_is_help=True,
    help="Pin pretrained weights (URL, file or torchvision name) in a template's weights.lock; "
         "builds get them from the host cache, sha256-verified.",
)

_PATH = typer.Option(Path("."), "--project", "-p", help="The project folder (made by 'tc new').")
_TEMPLATE = typer.Option(None, "--template", "-t", metavar="P/C/A",
                         help="Template PROVIDER/CATEGORY/ARCHITECTURE (needed when the project "
                              "has several).")


def _size(text: str) -> int:
    from tcli.units import parse_size

    return parse_size(text, "--max-size")


@app.command("add", epilog="Downloads once into the host cache (~/.cache/tc/weights, or "
             "TC_CACHE_DIR), computes the sha256 and writes <template>/docker/weights.lock "
             "(name, url, sha256, size). train.py uses the weights named by its 'weights' "
             "setting, or the only entry of the lock when that is empty.")
def add_command(
    source: str = typer.Argument(..., metavar="SOURCE",
                                 help="An http(s) URL, a local file, or a torchvision model or "
                                      "weights name (resnet18, ResNet18_Weights.IMAGENET1K_V1)."),
    name: str = typer.Option(None, "--name", "-n", help="Name in weights.lock (default: from "
                             "the source, e.g. resnet18)."),
    url: str = typer.Option(None, "--url", help="For a local file: the http(s) URL where the "
                            "platform's build can download the same bytes."),
    max_size: str = typer.Option("4GB", "--max-size", help="Refuse a file larger than this."),
    timeout: float = typer.Option(60.0, "--timeout", min=1.0, help="Seconds a connection "
                                  "may stay silent."),
    refresh: bool = typer.Option(False, "--refresh", help="Download again even when the lock "
                                 "pins this URL and the cache has its file."),
    project: Path = _PATH,
    template: str = _TEMPLATE,
) -> None:
    """Pin SOURCE in the template's weights.lock (downloaded once, sha256-verified).

    Example: tc weights add resnet18
    """
    from tcli.project import Project
    from tcli.weights import core, sources

    proj = Project.load(project)
    ref = proj.select(template)
    src = sources.resolve(source, Path.cwd())
    added = core.add(proj, ref, src, name=name, url=url, max_bytes=_size(max_size),
                     timeout_s=timeout, refresh=refresh,
                     on_download=lambda u: console.info(f"downloading {u}"))
    e = added.entry
    if src.url and not added.downloaded:
        console.info(f"{src.url}: pinned and in the host cache already, not downloaded "
                     "(--refresh downloads it again)")
    what = "replaced" if added.replaced else "added"
    console.success(f"{what} {e.name} in {added.lock_file.relative_to(proj.root)}: "
                    f"sha256 {e.sha256}, {e.size} bytes")
    if not e.url:
        console.warn(f"{e.name} has no URL: only tc dev-run/tc build (host cache) or "
                     "'tc package --with-weights' can give it to a build; add --url URL")


@app.command("list")
def list_command(
    project: Path = _PATH,
    template: str = _TEMPLATE,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List the pinned weights and whether the host cache has each.

    Example: tc weights list
    """
    from dataclasses import asdict

    from tcli.project import Project
    from tcli.weights import core

    proj = Project.load(project)
    ref = proj.select(template)
    checks = core.verify(proj, ref)
    if as_json:
        render.print_data({"template": ref.key, "weights": [
            dict(asdict(c.entry), cache=c.state) for c in checks]})
        return
    if not checks:
        console.info(f"{ref.key}: no weights.lock (add weights with 'tc weights add SOURCE')")
        return
    for c in checks:
        url = c.entry.url or "(no URL)"
        console.print(f"{c.entry.name}  sha256 {c.entry.sha256[:12]}…  {c.entry.size} bytes  "
                      f"{url}  cache: {c.state}", markup=False, highlight=False)


@app.command("verify")
def verify_command(project: Path = _PATH, template: str = _TEMPLATE) -> None:
    """Check weights.lock and that every cached file still has its sha256 (exit 1 if not).

    Example: tc weights verify
    """
    from tcli.errors import ChecksFailed
    from tcli.project import Project
    from tcli.weights import core

    proj = Project.load(project)
    ref = proj.select(template)
    checks = core.verify(proj, ref)
    bad = [c for c in checks if c.state != "ok"]
    for c in checks:
        if c.state == "ok":
            console.success(f"{c.entry.name}: sha256 {c.entry.sha256[:12]}… ok")
        else:
            console.error(f"{c.entry.name}: {c.detail}",
                          "fetch it again with 'tc weights pull'")
    if bad:
        raise ChecksFailed(f"{len(bad)} of {len(checks)} weights not verified")
    if not checks:
        console.info(f"{ref.key}: no weights.lock")


@app.command("pull")
def pull_command(
    max_size: str = typer.Option("4GB", "--max-size", help="Refuse a file larger than this."),
    timeout: float = typer.Option(60.0, "--timeout", min=1.0, help="Seconds a connection "
                                  "may stay silent."),
    project: Path = _PATH,
    template: str = _TEMPLATE,
) -> None:
    """Download every pinned file the host cache lacks (or holds changed) from its URL.

    Example: tc weights pull
    """
    from tcli.project import Project
    from tcli.weights import core

    proj = Project.load(project)
    ref = proj.select(template)
    for entry, what in core.pull(proj, ref, max_bytes=_size(max_size), timeout_s=timeout):
        console.success(f"{entry.name}: {what} (sha256 {entry.sha256[:12]}…)")
