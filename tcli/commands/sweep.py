"""``tc sweep``: search a template's hyperparameters (its form schema) for the best score the
platform would read (custom.json's score_regexp), running the built image once per trial."""

from __future__ import annotations

from pathlib import Path

import typer

EPILOG = (
    "Examples: tc sweep --trials 20  |  tc sweep --trials 8 --param c=0.01:10:log "
    "--param architecture=logistic_regression,random_forest  |  tc sweep --resume NAME  |  "
    "tc sweep --resume NAME --apply. Sweep file (YAML/JSON): a mapping with 'params' (each "
    "NAME to 'LOW:HIGH', 'LOW:HIGH:log', a list of values or one value) and optional 'trials', "
    "'minimize', 'parallel'. Exit codes: 0 done, 2 bad input, 3 Docker "
    "unavailable, 4 build failed, 130 interrupted (resume with --resume NAME). "
    "Details: docs/sweep.md"
)


def command(
    path: Path = typer.Argument(Path("."), help="The project folder (made by 'tc new')."),
    template: str = typer.Option(None, "--template", "-t", metavar="P/C/A",
                                 help="Template PROVIDER/CATEGORY/ARCHITECTURE (when several)."),
    trials: int = typer.Option(None, "--trials", metavar="N",
                               help="Finished trials to reach (complete, pruned or failed)."),
    param: list[str] = typer.Option(
        None, "--param", metavar="SPEC",
        help="Narrow or add a parameter: NAME=LOW:HIGH, NAME=LOW:HIGH:log, NAME=a,b,c, or "
             "NAME=value (fixed). Repeatable."),
    sweep_file: Path = typer.Option(None, "--sweep-file", metavar="FILE",
                                    help="A YAML/JSON sweep file (params, trials, minimize)."),
    minimize: bool = typer.Option(False, "--minimize",
                                  help="Minimise the score (default: maximise)."),
    parallel: int = typer.Option(None, "--parallel", metavar="N",
                                 help="Trials at once, the GPUs split between them (default 1)."),
    timeout: float = typer.Option(None, "--timeout", metavar="S",
                                  help="Start no new trial after S seconds."),
    name: str = typer.Option(None, "--name", help="Sweep name (default sweep-<date>-<time>)."),
    resume: str = typer.Option(None, "--resume", metavar="NAME",
                               help="Continue the sweep NAME (after Ctrl-C or a crash)."),
    apply: bool = typer.Option(False, "--apply",
                               help="Write the best config into train_config.json."),
    demo: bool = typer.Option(False, "--demo", help="Use a synthetic demo dataset."),
    demo_images: int = typer.Option(None, "--demo-images", metavar="N",
                                    help="Number of demo images (default: per task)."),
    dataset: Path = typer.Option(None, "--dataset", metavar="DIR",
                                 help="Your dataset (as tc dev-run --dataset)."),
    dataset_id: int = typer.Option(None, "--dataset-id", metavar="N", help="DATASET_ID (default 1)."),
    gpus: str = typer.Option("auto", "--gpus", help="auto, all, none, or ids: 0 / 0,1."),
    base_image: str = typer.Option(None, "--base-image", envvar="TC_BASE_IMAGE", metavar="IMAGE",
                                   help="BASE_IMAGE build arg (default: the Dockerfile's)."),
    network: str = typer.Option(None, "--network", envvar="TC_NETWORK", metavar="MODE",
                                help="Network for build and run (default: Docker's)."),
    memory: str = typer.Option(None, "--memory", metavar="SIZE",
                               help="Memory limit of each trial's container, e.g. 4g."),
    dry_run: bool = typer.Option(False, "--dry-run",
                                 help="Print the search space and stop (no Docker, no writes)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show each trial's start."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON on stdout."),
) -> None:
    """Search the template's hyperparameters for the best score.

    The space comes from config.jsonschema (bounds, enums, booleans), narrowed by --param; the
    objective is custom.json's score_regexp on each trial's log; trials are pruned from the
    per-epoch val metric in metrics.jsonl. Stored in .tc/sweeps/NAME (resume with --resume);
    the report is .tc/sweeps/NAME/index.html.

    Example: tc sweep --demo --trials 8 --param c=0.01:10:log
    """
    from tcli.devrun.options import DevRunOptions
    from tcli.sweep.core import SweepOptions, sweep
    from tcli.sweep.core import dry_run as plan_dry_run
    from tcli.ui import render
    from tcli.ui.sweep_view import SweepView, show_dry_run, show_result

    run = DevRunOptions(template=template, dataset=dataset, demo=demo, demo_images=demo_images,
                        dataset_id=dataset_id,
                        gpus=gpus, base_image=base_image, network=network, memory=memory,
                        verbose=verbose)
    opts = SweepOptions(template=template, trials=trials, params=list(param or []),
                        sweep_file=sweep_file, minimize=minimize, parallel=parallel,
                        timeout=timeout, name=name, resume=resume, apply=apply, dry_run=dry_run,
                        run=run)
    if dry_run:
        show_dry_run(plan_dry_run(path, opts), as_json)
        return
    result = sweep(path, opts, SweepView(json_mode=as_json, verbose=verbose))
    render.emit(result, as_json, show_result)
