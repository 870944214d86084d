"""Rich rendering of ``tc model export`` (:class:`tcli.model.export.Result`): one table."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table

from tcli.ui import console

if TYPE_CHECKING:
    from tcli.model.export import Result


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.1f} kB"


def render_export(result: Result) -> None:
    out = console.out()
    out.print(f"{result.task}: {result.metric} on {result.val_images} val images, "
              f"max diff against {result.model}, latency = median ms per batch "
              f"(onnxruntime, this CPU); marked: {result.metric} more than "
              f"{result.tolerance:g} below the original", markup=False, highlight=False)
    t = Table(title_justify="left")
    for name, justify in (("format", "left"), (result.metric, "right"), ("delta", "right"),
                          ("max diff", "right"), ("size", "right"), ("b1 ms", "right"),
                          ("b32 ms", "right"), ("status", "left")):
        t.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in result.rows:
        t.add_row(row.format, _num(row.metric, ".3f"), _num(row.delta, "+.3f"),
                  _num(row.max_abs_diff, ".2e"), _size(row.size), _num(row.latency_ms_b1, ".1f"),
                  _num(row.latency_ms_b32, ".1f"), row.status.upper() if row.status == "marked"
                  else row.status)
    out.print(t)
    for row in result.rows:
        if row.note:
            out.print(f"{row.format}: {row.note}", markup=False, highlight=False, soft_wrap=True)
    out.print(f"files: {result.folder} (formats.json)", markup=False, highlight=False)
