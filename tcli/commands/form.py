"""``tc form``: render the template's config.jsonschema with the platform's form (rjsf)."""

from __future__ import annotations

from pathlib import Path

import typer

from tcli.ui import console

EPILOG = (
    "Examples: tc form  |  tc form my-container --template Torchvision/Classification/ResNet18  |  "
    "tc form --export --no-browser. Ctrl-C stops the server. Details: docs/form.md"
)


def command(
    path: Path = typer.Argument(Path("."), help="Project folder (default: the current folder)."),
    template: str = typer.Option(
        None, "--template", "-t", metavar="P/C/A",
        help="Template PROVIDER/CATEGORY/ARCHITECTURE (needed when the project has several).",
    ),
    export: bool = typer.Option(
        False, "--export", help="The ONNX export form: export.jsonschema -> export_config.json."
    ),
    port: int = typer.Option(0, "--port", help="Port on 127.0.0.1 (default: a random free one)."),
    no_browser: bool = typer.Option(False, "--no-browser", help="Print the URL, open nothing."),
) -> None:
    """Serve the config form on 127.0.0.1 and save what you enter.

    The page is react-jsonschema-form, the library the platform renders config.jsonschema
    with, prefilled from train_config.json, with live validation. Save validates with the
    rules of tc validate and writes train_config.json atomically, keeping its key order.
    The URL holds a one-time token; without it the server answers 403.

    Example: tc form my-container
    """
    from tcli.form.server import make_server

    con = console.out()
    server = make_server(path, template, export, port,
                         log=lambda m: con.print(m, markup=False, highlight=False))
    target = server.httpd.target
    con.print(f"form for {target.template}: {target.schema_path.relative_to(target.project.root)}"
              f" -> {target.file}", markup=False, highlight=False)
    con.print(f"open {server.url}  (Ctrl-C to stop)", markup=False, highlight=False)
    if not no_browser:
        import webbrowser

        webbrowser.open(server.url)
    try:
        server.serve()
    except KeyboardInterrupt:
        con.print("stopped", markup=False, highlight=False)
    finally:
        server.httpd.server_close()
