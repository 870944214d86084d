"""``tc build``: build a template's image under a registry tag, and push it (``--push``)."""

from __future__ import annotations

from pathlib import Path

import typer

from tcli.ui import console

EPILOG = (
    "Examples: tc build --tag 127.0.0.1:5000/me/cls:1 --push  |  "
    "tc build my-container -t Torchvision/Classification/ResNet --tag reg.example.com/cls:2. "
    "Then: tc export trainjob --image <the tag> (docs/scale-out.md)."
)


def command(
    path: Path = typer.Argument(Path("."), help="Project folder (default: the current folder)."),
    tag: str = typer.Option(..., "--tag", help="Image reference REGISTRY/NAME:TAG to build."),
    push: bool = typer.Option(False, "--push", help="Push the image to the tag's registry."),
    template: str = typer.Option(None, "--template", "-t", metavar="P/C/A",
                                 help="Template (needed when the project has several)."),
    base_image: str = typer.Option(None, "--base-image", envvar="TC_BASE_IMAGE", metavar="IMAGE",
                                   help="BASE_IMAGE build arg (default: the Dockerfile's, or "
                                        "the local stand-in when it is not reachable, as "
                                        "tc dev-run does)."),
    network: str = typer.Option(None, "--network", envvar="TC_NETWORK", metavar="MODE",
                                help="Network of the build, e.g. host."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Rebuild every layer."),
) -> None:
    """Build the platform's image of one template, tagged for a registry; --push uploads it.

    The build directory is the one the platform assembles (as tc dev-run builds it).

    Example: tc build --tag 127.0.0.1:5000/tc/classification:1 --push
    """
    from tcli import engine
    from tcli.project import Project
    from tcli.scaleout import imagebuild

    ref = imagebuild.parse_tag(tag, push)
    project = Project.load(path)
    template_ref = project.select(template)
    client = engine.connect()

    def on_event(event: engine.BuildEvent) -> None:
        kind, _step, text = event
        if kind == "step":
            console.print(f"  {text}", markup=False)

    console.info(f"building {ref.full} from {template_ref.key}")
    base = imagebuild.choose_base(client, template_ref, base_image, on_status=console.info)
    built = imagebuild.build(client, project, template_ref, ref,
                             base_image=base.image if base.as_build_arg else None,
                             network=network, no_cache=no_cache, on_event=on_event)
    console.success(f"built {built.tag} in {built.seconds:.1f} s ({built.cached_steps} of "
                    f"{built.steps} steps from cache, {built.context_files} files in the context)")
    if push:
        console.info(f"pushing {ref.full}")
        digest = imagebuild.push(client, ref)
        console.success(f"pushed {ref.full}@{digest}")
