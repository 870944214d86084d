"""``tc dataset inspect --report OUT``: PNG pictures and an ``index.html`` that shows them.

- ``classes.png``: shapes and images per label (horizontal bars, matplotlib);
- ``box_sizes.png``: box width vs height (log-log hexbin) and the sqrt(area) histogram;
- ``samples.png``: a contact sheet of sample images with boxes, polygons, masks and tags
  drawn in the label's colour (Pillow).

matplotlib is imported here only (extra ``tc-cli[report]``).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from tcli.errors import InputError
from tcli.safety import atomic

from .cvat_writer import PALETTE
from .inspect import Inspection

CELL = 200


def write_pictures(ins: Inspection, out: Path) -> list[Path]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise InputError("--report needs matplotlib", hint="pip install 'tc-cli[report]'"
                         ) from None
    if out.exists() and not out.is_dir():
        raise InputError(f"--report {out}: is a file, not a folder",
                         "give a folder for the report (it is created when missing)")
    try:
        out.mkdir(parents=True, exist_ok=True)
        # built in a private folder, then renamed into place: a link at a name is replaced,
        # never written through
        with tempfile.TemporaryDirectory(prefix=".tc-report-", dir=out) as tmp:
            stage = Path(tmp)
            built = [_classes(ins, stage, plt), _boxes(ins, stage, plt), _sheet(ins, stage)]
            built.append(_index(ins, stage, built))
            for p in built:
                atomic.replace(p, out / p.name)
    except OSError as exc:
        raise atomic.os_error(out, exc, "cannot write the report") from None
    return [out / p.name for p in built]


def _color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _classes(ins: Inspection, out: Path, plt: Any) -> Path:
    names = [n for n, _s, _i in ins.labels] or ["(no labels)"]
    shapes = [s for _n, s, _i in ins.labels] or [0]
    images = [i for _n, _s, i in ins.labels] or [0]
    fig, ax = plt.subplots(figsize=(8, max(2.5, 0.45 * len(names) + 1.2)), dpi=100)
    ys = range(len(names))
    ax.barh([y + 0.2 for y in ys], shapes, height=0.4, color=[_color(i) for i in ys],
            label="annotations")
    ax.barh([y - 0.2 for y in ys], images, height=0.4, color="#999999", label="images")
    for y, (s, i) in enumerate(zip(shapes, images, strict=True)):
        ax.text(s, y + 0.2, f" {s}", va="center", fontsize=8)
        ax.text(i, y - 0.2, f" {i}", va="center", fontsize=8, color="#555555")
    ax.set_yticks(list(ys), names)
    ax.invert_yaxis()
    ax.set_xlabel("count")
    ax.set_title(f"Labels: annotations and images per label ({ins.images} images)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    fig.tight_layout()
    p = out / "classes.png"
    fig.savefig(p)
    plt.close(fig)
    return p


def _boxes(ins: Inspection, out: Path, plt: Any) -> Path:
    import numpy as np

    w = np.frombuffer(ins.box_w, dtype=np.float32) if len(ins.box_w) else np.zeros(0)
    h = np.frombuffer(ins.box_h, dtype=np.float32) if len(ins.box_h) else np.zeros(0)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.5), dpi=100)
    p = out / "box_sizes.png"
    if not w.size:
        for a in (a1, a2):
            a.text(0.5, 0.5, "no boxes", ha="center", va="center", transform=a.transAxes)
            a.set_axis_off()
    else:
        ok = (w > 0) & (h > 0)
        if ok.sum() > 200:
            hb = a1.hexbin(w[ok], h[ok], gridsize=40, xscale="log", yscale="log", bins="log",
                           cmap="viridis", mincnt=1)
            fig.colorbar(hb, ax=a1, label="boxes")
        else:
            a1.scatter(w[ok], h[ok], s=12, alpha=0.7, color="#3d3df5")
            a1.set_xscale("log")
            a1.set_yscale("log")
        _log_ticks(a1, w[ok], h[ok])
        a1.set_xlabel("box width (px)")
        a1.set_ylabel("box height (px)")
        a1.set_title(f"Box sizes ({int(w.size)} boxes and shape extents, "
                     f"{int((~ok).sum())} degenerate)")
        side = np.sqrt(np.maximum(w.astype(np.float64) * h, 0))
        a2.hist(side, bins=40, color="#34d1b7", edgecolor="#1b7f6f")
        for edge, txt in ((32, "32 px"), (96, "96 px")):
            a2.axvline(edge, color="#ff6037", linestyle="--", linewidth=1)
            a2.text(edge, a2.get_ylim()[1] * 0.95, f" {txt}", color="#ff6037", fontsize=8)
        a2.set_xlabel("sqrt(box area) (px) — COCO small < 32 ≤ medium < 96 ≤ large")
        a2.set_ylabel("boxes")
        a2.set_title("Box size distribution")
    fig.tight_layout()
    fig.savefig(p)
    plt.close(fig)
    return p


def _log_ticks(ax: Any, w: Any, h: Any) -> None:
    """Plain numbers on the log axes, never overlapping: 1, 10, 100... always; 2 and 5 times
    those only where the axis spans at most 3 decades (more would crowd them)."""
    import math

    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    def fmt(v: float, _pos: int) -> str:
        return f"{v:g}"

    for axis, vals in ((ax.xaxis, w), (ax.yaxis, h)):
        axis.set_major_locator(LogLocator(base=10, subs=(1.0,)))
        axis.set_major_formatter(FuncFormatter(fmt))
        lo, hi = (float(vals.min()), float(vals.max())) if len(vals) else (1.0, 10.0)
        decades = math.log10(max(hi, 1e-9) / max(lo, 1e-9))
        if decades <= 3:
            axis.set_minor_locator(LogLocator(base=10, subs=(2.0, 5.0)))
            axis.set_minor_formatter(FuncFormatter(fmt))
        else:
            axis.set_minor_locator(LogLocator(base=10, subs=tuple(range(2, 10))))
            axis.set_minor_formatter(NullFormatter())
    ax.tick_params(which="minor", labelsize=7)


#: a sample image with more pixels than this is not decoded for the contact sheet (a JPEG is
#: first reduced while decoding, see :func:`_thumb`); a mask larger than this is not drawn
MAX_DRAW_PIXELS = 50_000_000


def _fit(draw: Any, text: str, width: int) -> str:
    """``text`` cut (with '..') to at most ``width`` pixels in the default font."""
    if draw.textlength(text) <= width:
        return text
    while text and draw.textlength(text + "..") > width:
        text = text[:-1]
    return text + ".."


def _thumb(rec: Any) -> tuple[Any, str | None]:
    """(RGB image at most CELL x CELL-ish, None) or (None, why it was not drawn). Never
    allocates more than :data:`MAX_DRAW_PIXELS` (annotated sizes are not trusted)."""
    from PIL import Image

    try:
        with Image.open(rec.path) as im:
            im.draft("RGB", (CELL, CELL))  # JPEG: decode at 1/2..1/8 scale
            if im.width * im.height > MAX_DRAW_PIXELS:
                return None, (f"{im.width}x{im.height} is over the {MAX_DRAW_PIXELS // 10**6} "
                              "Mpx drawing limit")
            img = im.convert("RGB")
    except Exception as exc:  # an undecodable sample still gets its cell
        return None, f"not a readable image ({type(exc).__name__})"
    img.thumbnail((CELL - 4, CELL - 4))
    return img, None


def _sheet(ins: Inspection, out: Path) -> Path:
    from PIL import Image, ImageDraw

    recs = ins.samples
    not_drawn: list[str] = []
    cols = 6
    rows = max(1, (len(recs) + cols - 1) // cols)
    top = 22
    sheet = Image.new("RGB", (cols * CELL, top + rows * (CELL + 18)), (245, 245, 245))
    draw_s = ImageDraw.Draw(sheet)
    lx = 4
    for i, name in enumerate(ins.labels_list[:20]):  # colour legend
        draw_s.rectangle([lx, 5, lx + 12, 17], fill=_rgb(_color(i)))
        text = _fit(draw_s, name, 140)
        draw_s.text((lx + 16, 5), text, fill=(20, 20, 20))
        lx += 30 + int(draw_s.textlength(text))
        if lx > cols * CELL - 160:
            break
    for k, rec in enumerate(recs):
        cx, cy = (k % cols) * CELL, top + (k // cols) * (CELL + 18)
        img, why = _thumb(rec)
        # the shapes' scale: from the annotated size (what the coordinates refer to)
        W = rec.width if rec.width > 0 else (img.width if img is not None else 1)
        H = rec.height if rec.height > 0 else (img.height if img is not None else 1)
        scale = min((CELL - 4) / W, (CELL - 4) / H)
        tw, th = max(1, round(W * scale)), max(1, round(H * scale))
        if img is None:
            not_drawn.append(f"{os.path.basename(rec.path)}: {why}")
            img = Image.new("RGB", (tw, th), (80, 0, 0))
        thumb = img.resize((tw, th)).convert("RGBA")
        overlay = Image.new("RGBA", thumb.size, (0, 0, 0, 0))
        d = ImageDraw.Draw(overlay)
        tags: list[str] = []
        for s in rec.shapes:
            col = _rgb(_color(s.label))
            if s.kind == "box":
                x0, y0, x1, y1 = (v * scale for v in s.data)
                d.rectangle([x0, y0, max(x0, x1), max(y0, y1)], outline=(*col, 255), width=2)
            elif s.kind in ("polygon", "polyline", "points") and s.data:
                pts = [(s.data[i] * scale, s.data[i + 1] * scale)
                       for i in range(0, len(s.data) - 1, 2)]
                if s.kind == "polygon" and len(pts) >= 3:
                    d.polygon(pts, fill=(*col, 70))
                    d.line([*pts, pts[0]], fill=(*col, 255), width=2)
                else:
                    d.line(pts, fill=(*col, 255), width=2)
            elif s.kind == "mask":
                _draw_mask(overlay, s.data, scale, col)
            elif s.kind == "tag":
                name = ins.labels_list[s.label] if s.label < len(ins.labels_list) else "?"
                ty = 14 * len(tags)
                d.rectangle([0, ty, 8 + 6 * len(name[:24]), ty + 13], fill=(*col, 210))
                d.text((3, ty + 1), name[:24], fill=(255, 255, 255, 255))
                tags.append(name)
        thumb = Image.alpha_composite(thumb, overlay).convert("RGB")
        sheet.paste(thumb, (cx + (CELL - tw) // 2, cy + (CELL - th) // 2))
        # the tags are drawn on the image; the caption is the file name, cut to its cell
        caption = _fit(draw_s, os.path.basename(rec.path), CELL - 8)
        draw_s.text((cx + 4, cy + CELL + 2), caption, fill=(20, 20, 20))
    p = out / "samples.png"
    sheet.save(p)
    ins.not_drawn = not_drawn
    return p


def _draw_mask(overlay: Any, data: Any, scale: float, col: tuple[int, int, int]) -> None:
    import numpy as np
    from PIL import Image

    left, top, w, h, runs = data
    if w <= 0 or h <= 0 or w * h > MAX_DRAW_PIXELS or sum(runs) != w * h:
        return
    flat = np.zeros(w * h, dtype=np.uint8)
    pos, val = 0, 0
    for r in runs:
        if val:
            flat[pos:pos + r] = 150
        pos += r
        val ^= 1
    alpha = Image.fromarray(flat.reshape(h, w))
    sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
    alpha = alpha.resize((sw, sh))
    layer = Image.new("RGBA", (sw, sh), (*col, 0))
    layer.putalpha(alpha)
    overlay.alpha_composite(layer, (round(left * scale), round(top * scale)))


def _rgb(hexcol: str) -> tuple[int, int, int]:
    return int(hexcol[1:3], 16), int(hexcol[3:5], 16), int(hexcol[5:7], 16)


#: index.html (Jinja2, autoescape on: every name and path is escaped by the engine)
INDEX = """<!doctype html><html><head><meta charset='utf-8'><title>dataset report</title>
<style>body{font-family:sans-serif;margin:2em}img{max-width:100%;border:1px solid #ccc}
td,th{padding:2px 10px;text-align:left}</style></head><body>
<h1>Dataset {{ ins.path }}</h1><p>{{ ins.images }} images, {{ ins.shapes }} annotations,
{{ ins.labels | length }} labels ({{ ins.format }}, {{ ins.layout }} layout)</p>
<h2>Labels</h2><table><tr><th>label</th><th>annotations</th><th>images</th></tr>
{% for n, s, i in ins.labels %}<tr><td>{{ n }}</td><td>{{ s }}</td><td>{{ i }}</td></tr>{% endfor %}
</table><h2>Box sizes</h2><table>
{% for k, v in box.items() %}<tr><td>{{ k }}</td><td>{{ v }}</td></tr>{% endfor %}</table>
<h2>Problems</h2><ul>
{% for p in ins.problems %}<li><b>{{ p.count }}</b> {{ p.kind }}: {{ p.examples | join("; ") }}</li>
{% else %}{% if not ins.not_drawn %}<li>none found</li>{% endif %}{% endfor %}
{% if ins.not_drawn %}<li><b>{{ ins.not_drawn | length }}</b> samples not drawn:
{{ ins.not_drawn[:3] | join("; ") }}</li>{% endif %}</ul>
{% for p in pics %}<h2>{{ p.stem.replace("_", " ") }}</h2><img src="{{ p.name }}" alt="{{ p.stem }}">
{% endfor %}</body></html>
"""


def _index(ins: Inspection, out: Path, pics: list[Path]) -> Path:
    import jinja2

    env = jinja2.Environment(autoescape=True, keep_trailing_newline=True)
    text = env.from_string(INDEX).render(ins=ins, box=ins.box_summary(), pics=pics)
    p = out / "index.html"
    p.write_text(text, encoding="utf-8")
    return p
