"""``.tc/sweeps/NAME/index.html``: the optimisation history, each parameter against the score,
the parameters' importance (Optuna's fANOVA-style evaluator) and the trials' table.

Pictures are matplotlib PNGs embedded as ``data:`` URIs: one self-contained file, no network,
no script. The page is rendered by Jinja2 with autoescape on (a parameter value comes from a
sweep file or a schema enum: it is escaped by the engine, never by hand)."""

from __future__ import annotations

import base64
import contextlib
import io
import math
import warnings
from pathlib import Path
from typing import Any

from markupsafe import Markup

from tcli.report.html import CSS, fmt
from tcli.safety import atomic
from tcli.sweep.result import SweepResult, TrialRow
from tcli.sweep.space import CHOICE, Param

TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tc sweep {{ r.name }}</title>
<meta http-equiv="Content-Security-Policy"
 content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<style>{{ css }}</style></head>
<body><main>
<h1>tc sweep: {{ r.name }}</h1>
<p class="muted">{{ r.template }} · {{ r.direction }} {{ r.score_name }} ·
{{ counts_text }}</p>
{% if r.best %}
<p>best: trial {{ r.best.number }}, {{ r.score_name }} <b>{{ r.best.score | fmt }}</b>
{% if r.baseline_score is not none %}(the default config: {{ r.baseline_score | fmt }}){% endif %}</p>
{{ table(["parameter", "best value"], best_rows) }}
{% else %}<p class="note">No trial completed with a score.</p>{% endif %}
{% for title, alt, uri in images %}
<h2>{{ title }}</h2><figure><img src="{{ uri }}" alt="{{ alt }}"></figure>
{% endfor %}
{% for note in notes %}<p class="note">{{ note }}</p>{% endfor %}
<h2>Trials</h2>
{{ table(head, trial_rows) }}
</main></body></html>
"""

TABLE = """<table><thead><tr>{% for h in head %}<th>{{ h }}</th>{% endfor %}</tr></thead><tbody>
{%- for r in rows %}<tr>{% for c in r %}<td>{{ c | fmt }}</td>{% endfor %}</tr>{% endfor -%}
</tbody></table>"""


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    _plt().close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _done(rows: list[TrialRow]) -> list[TrialRow]:
    return [r for r in rows if r.state == "complete" and r.score is not None
            and math.isfinite(r.score)]


def history(res: SweepResult) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 3.6))
    done = _done(res.trials)
    xs = [r.number for r in done]
    ys = [float(r.score or 0) for r in done]
    ax.scatter(xs, ys, color="#1f77b4", label="trial score", zorder=3)
    best: list[float] = []
    for y in ys:
        best.append(y if not best else (min if res.direction == "minimize" else max)(best[-1], y))
    if xs:
        ax.step(xs, best, where="post", color="#d62728", label="best so far")
    for r in res.trials:
        if r.state == "pruned":
            ax.axvline(r.number, color="#bbbbbb", lw=1, ls=":")
    if res.baseline_score is not None:
        ax.axhline(res.baseline_score, color="#2ca02c", lw=1, ls="--", label="default config")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("trial (dotted: pruned)")
    ax.set_ylabel(res.score_name)
    ax.legend(loc="best", fontsize=8)
    return _png(fig)


def slices(res: SweepResult, space: dict[str, Param]) -> str | None:
    names = [n for n, p in space.items() if not p.fixed]
    done = _done(res.trials)
    if not names or not done:
        return None
    plt = _plt()
    cols = min(3, len(names))
    rows_n = math.ceil(len(names) / cols)
    from matplotlib.ticker import NullFormatter

    fig, axes = plt.subplots(rows_n, cols, figsize=(4 * cols, 3.2 * rows_n), squeeze=False,
                             layout="constrained")
    for i, name in enumerate(names):
        ax = axes[i // cols][i % cols]
        p = space[name]
        pts = [(r.params[name], float(r.score or 0), r.number) for r in done if name in r.params]
        if p.kind == CHOICE:
            labels = [str(c) for c in p.choices]
            ax.scatter([labels.index(str(v)) for v, _, _ in pts], [s for _, s, _ in pts],
                       c=[n for _, _, n in pts], cmap="viridis")
            ax.set_xticks(range(len(labels)))
            ax.set_xticklabels(labels, rotation=20, fontsize=8)
        else:
            ax.scatter([float(v) for v, _, _ in pts], [s for _, s, _ in pts],
                       c=[n for _, _, n in pts], cmap="viridis")
            if p.log:
                ax.set_xscale("log")
                ax.xaxis.set_minor_formatter(NullFormatter())  # no overlapping minor labels
        ax.set_title(name, fontsize=10)
        ax.set_ylabel(res.score_name, fontsize=8)
    for j in range(len(names), rows_n * cols):
        axes[j // cols][j % cols].axis("off")
    fig.suptitle("each parameter against the score (colour: trial number)", fontsize=10)
    return _png(fig)


def importances(study: Any) -> dict[str, float] | None:
    """Optuna's parameter importances, or None when they cannot be computed (too few trials)."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            found = optuna.importance.get_param_importances(study)
        except (RuntimeError, ValueError, ZeroDivisionError):
            return None
    return {k: float(v) for k, v in found.items()} or None


def importance_png(values: dict[str, float]) -> str:
    plt = _plt()
    names = list(values)[::-1]
    fig, ax = plt.subplots(figsize=(6, 0.5 + 0.4 * len(names)))
    ax.barh(names, [values[n] for n in names], color="#1f77b4")
    ax.set_xlabel("importance (share of the score's variance)")
    return _png(fig)


def render(res: SweepResult, space: dict[str, Param], images: list[tuple[str, str, str]],
           notes: list[str]) -> str:
    import jinja2

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["fmt"] = fmt
    table = env.from_string(TABLE)
    names = list(space)
    head = ["trial", "state", res.score_name, "epochs", "seconds", *names, "note"]
    trial_rows = [[f"{r.number}{' (default)' if r.baseline else ''}", r.state, r.score, r.epochs,
                   r.seconds, *[r.params.get(n, "(fixed)" if space[n].fixed else "") for n in names],
                   r.note] for r in res.trials]
    best_rows = [[k, v] for k, v in (res.best.params.items() if res.best else [])]
    counts = res.counts()
    return env.from_string(TEMPLATE).render(
        r=res, css=Markup(CSS), images=images, notes=notes, head=head, trial_rows=trial_rows,
        best_rows=best_rows,
        counts_text=", ".join(f"{v} {k}" for k, v in sorted(counts.items())) or "no trials",
        table=lambda h, rows: Markup(table.render(head=h, rows=rows)))


def write_report(folder: Path, res: SweepResult, space: dict[str, Param],
                 study: Any = None) -> str | None:
    """Write ``index.html`` into ``folder``; its path, or None when nothing could be drawn."""
    images: list[tuple[str, str, str]] = []
    notes: list[str] = []
    images.append(("Optimisation history", "score of each trial and the best so far",
                   history(res)))
    sl = slices(res, space)
    if sl:
        images.append(("Parameters against the score", "one scatter plot per parameter", sl))
    scores = {r.score for r in _done(res.trials)}
    imp = importances(study) if study is not None and len(scores) > 1 else None
    if imp:
        images.append(("Parameter importance", "importance of each parameter",
                       importance_png(imp)))
    elif len(scores) <= 1 and len(_done(res.trials)) > 1:
        notes.append("Parameter importance: every completed trial scored the same, so no "
                     "parameter explains a difference.")
    else:
        notes.append("Parameter importance needs at least two completed trials that differ.")
    path = folder / "index.html"
    with contextlib.suppress(OSError):
        folder.mkdir(parents=True, exist_ok=True)
    atomic.write_text(path, render(res, space, images, notes))
    return str(path)
