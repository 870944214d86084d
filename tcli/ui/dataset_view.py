"""Rich rendering of ``tc dataset inspect`` (:class:`tcli.datasets.inspect.Inspection`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table

from tcli.ui import console

if TYPE_CHECKING:
    from tcli.datasets.inspect import Inspection


def render_inspection(ins: Inspection) -> None:
    out = console.out()
    kinds = ", ".join(f"{v} {k}" for k, v in sorted(ins.kinds.items())) or "none"
    out.print(f"{ins.path} ({ins.format}, {ins.layout} layout): {ins.images} images, "
              f"{ins.shapes} annotations ({kinds})", markup=False, highlight=False)
    if ins.detected:
        out.print(f"format {ins.format}: {ins.detected}", markup=False, highlight=False)
    t = Table(title="labels", title_justify="left")
    t.add_column("label")
    t.add_column("annotations", justify="right")
    t.add_column("images", justify="right")
    for name, s, i in ins.labels:
        t.add_row(name, str(s), str(i))
    out.print(t)
    t = Table(title="annotations per image", title_justify="left")
    for b, _n in ins.per_image:
        t.add_column(b, justify="right")
    t.add_row(*(str(n) for _b, n in ins.per_image))
    out.print(t)
    summ = ins.box_summary()
    if summ.get("boxes+extents"):
        t = Table(title="box sizes (px; boxes and polygon/mask extents)", title_justify="left")
        for k in summ:
            t.add_column(k, justify="right")
        t.add_row(*(str(v) for v in summ.values()))
        out.print(t)
    if not ins.problems:
        out.print("problems: none found", markup=False)
        return
    t = Table(title="problems", title_justify="left")
    t.add_column("count", justify="right")
    t.add_column("problem")
    t.add_column("examples")
    for p in ins.problems:
        t.add_row(str(p.count), p.kind, "; ".join(p.examples))
    out.print(t)
