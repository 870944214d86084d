"""``index.html`` of the report: one self-contained page (inline CSS) naming only written PNGs.

Rendered by Jinja2 with autoescape on: every value (a class name, a note, a metrics.jsonl
field a container wrote) is escaped by the engine, never by hand. The page has no script.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

#: the page; values reach it only through ``{{ }}`` (autoescaped) and the ``fmt`` filter
TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tc report {{ d.template }}</title>
<meta http-equiv="Content-Security-Policy"
 content="default-src 'none'; img-src 'self'; style-src 'unsafe-inline'">
<style>{{ css }}</style></head>
<body><main>
<h1>tc report: {{ d.template }}</h1>
<p class="muted">task {{ d.task }} · project {{ d.project }}</p>
{% set fail = d.get("failure") %}
{% if fail %}
<section class="problem" id="failure">
<h2>The run failed{% if fail.stage %} in stage {{ fail.stage }}{% endif %}
{%- if fail.exit_code is not none %} (exit {{ fail.exit_code }}
{%- if fail.signal %}, {{ fail.signal }}{% endif %}){% endif %}</h2>
{% if fail.findings %}{% set first = fail.findings[0] %}
<p><b>{{ first.title }}</b> <span class="muted">[{{ first.id }}]</span></p>
<p>Why: {{ first.cause }}</p>
{% for e in first.evidence %}<pre>line {{ e.line }}: {{ e.text }}</pre>{% endfor %}
<p>Fix: {{ first.fix }}</p>
{% for f in fail.findings[1:] %}<p class="muted">also: {{ f.title }} [{{ f.id }}]</p>{% endfor %}
{% else %}
<p>No known failure recognised in the last lines (docs/explain.md lists what tc recognises).</p>
{% endif %}
<details><summary>last lines ({{ fail.file }})</summary>
<pre>{% for ln in fail.last_lines %}{{ ln }}
{% endfor %}</pre></details>
</section>
{% endif %}
<h2>Run</h2>
{{ table(["", "value"], run_rows) }}
{% if d.model.status not in (None, "ok") %}
<p class="problem" id="model-problem">The ONNX model was not used: {{ d.model.problem or d.model.status }}</p>
{% endif %}
<h2>Training curves</h2>
{% if d.metrics and d.metrics.epochs %}
{{ img("curves.png", "loss and metric per epoch") }}
{% set last = d.metrics.epochs[-1] %}
<p class="muted">last epoch {{ last.get("epoch") | fmt }}/{{ last.get("epochs") | fmt }}:
images/s {{ last.get("images_per_s") | fmt(3) }},
data-wait share {{ last.get("data_wait_share") | fmt(2) }}, lr {{ last.get("lr") | fmt }}</p>
{% else %}
<p class="note">No metrics.jsonl beside the model: no per-epoch curves.</p>
{% endif %}
<h2>Validation set (ONNX model)</h2>
{% if d.val is none %}
<p class="note">No validation images found (see the notes below).</p>
{% else %}
<p>{{ d.val.images | fmt }} val images of dataset {{ d.val.dataset_id | fmt }}
(the split the container wrote{% if d.val.split_seed is not none %},
seed {{ d.val.split_seed | fmt }}{% endif %}), classes: {{ d.classes | join(", ") }}</p>
{% endif %}
{% set cls = d.get("classification") %}
{% if cls %}
<p>accuracy of the ONNX model: <b>{{ cls.accuracy | fmt }}</b> on {{ cls.images | fmt }} images</p>
{{ img("confusion.png", "confusion matrix") }}
{{ table(["class", "precision", "recall"], zip3(d.classes, cls.precision, cls.recall)) }}
{{ img("per_class.png", "per-class precision and recall") }}
{% endif %}
{% set det = d.get("detection") %}
{% if det %}
<p>mAP@0.5 of the ONNX model: <b>{{ det.map50 | fmt }}</b></p>
{{ table(["class", "AP@0.5", "true boxes"], zip3(d.classes, det.ap50, det.ground_truth_boxes)) }}
{{ img("per_class.png", "per-class AP") }}
{{ img("pr.png", "precision-recall curves") }}
{% endif %}
{% set seg = d.get("segmentation") %}
{% if seg %}
<p>mean IoU of the ONNX model: <b>{{ seg.miou | fmt }}</b></p>
{{ table(["class", "IoU"], zip2(seg.classes, seg.iou)) }}
{{ img("per_class.png", "per-class IoU") }}
{% endif %}
{% if d.formats %}
<h2>Model formats (tc model export)</h2>
<p class="muted">{{ d.formats.metric }} on the val split, max abs diff against the run's ONNX
model, latency in ms per batch (onnxruntime, CPU); marked: {{ d.formats.metric }} more than
{{ d.formats.tolerance | fmt }} below the original.</p>
{{ table(["format", d.formats.metric, "delta", "max diff", "bytes", "b1 ms", "b32 ms", "status",
          "note"], format_rows(d.formats.rows)) }}
{% endif %}
{% if "grid.png" in d.images %}
<h2>Predictions on validation images</h2>
{{ img("grid.png", "validation images with predictions") }}
{% endif %}
{% if d.notes %}
<h2>Notes</h2><ul>{% for n in d.notes %}<li>{{ n }}</li>{% endfor %}</ul>
{% endif %}
</main></body></html>
"""

TABLE = """<table><thead><tr>{% for h in head %}<th>{{ h }}</th>{% endfor %}</tr></thead><tbody>
{%- for r in rows %}<tr>{% for c in r %}<td>{{ c | fmt }}</td>{% endfor %}</tr>{% endfor -%}
</tbody></table>"""

IMG = """{% if name in images %}<figure><img src="{{ name }}" alt="{{ alt }}"></figure>{% endif %}"""

CSS = """
body{font:15px/1.45 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
main{max-width:1100px;margin:20px auto;background:#fff;padding:18px 28px 28px;border-radius:8px;
box-shadow:0 1px 3px rgba(0,0,0,.12)}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:22px 0 8px;border-bottom:1px solid #e3e6eb}
.muted{color:#5a6373}.problem{background:#fff5f5;border:1px solid #c62828;color:#8e1b1b;
padding:8px 12px;border-radius:6px}.note{color:#7a5a00}
table{border-collapse:collapse;margin:6px 0}td,th{border:1px solid #d5d9e0;padding:3px 10px;
text-align:left}th{background:#f0f2f5}
pre{white-space:pre-wrap;word-break:break-all;margin:4px 0}figure{margin:8px 0}img{max-width:100%;height:auto}
"""


def fmt(v: Any, digits: int = 4) -> str:
    """A value for the page (plain text; the engine escapes it)."""
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.{digits}g}" if abs(v) < 1e-3 and v else f"{v:.{digits}f}".rstrip("0").rstrip(".")
    return str(v)


def _rows(data: dict[str, Any]) -> list[list[Any]]:
    model, t = data["model"], data["timings"]
    rows: list[list[Any]] = [["score", data.get("score")],
                             ["model", f"{model['file'] or 'n/a'}"
                              + (f" ({model['bytes']} bytes)" if model.get("bytes") else "")],
                             ["ONNX parity (max abs diff, exporter)", data["onnx_parity"]["max_abs_diff"]]]
    for key, label in (("build", "build s"), ("setup", "setup s"), ("train", "train s"),
                       ("train_seconds_in_train_py", "train.py training s")):
        if key in t:
            rows.append([label, t[key]])
    if not any(k in t for k in ("build", "setup", "train")):
        rows.append(["build / setup / train s", "not known (run tc dev-run to record them)"])
    return rows


def render(data: dict[str, Any]) -> str:
    """The page for ``data`` (what report.json holds)."""
    import jinja2

    env = jinja2.Environment(autoescape=True, undefined=jinja2.ChainableUndefined,
                             keep_trailing_newline=True)
    env.filters["fmt"] = fmt
    table = env.from_string(TABLE)
    img = env.from_string(IMG)
    page = env.from_string(TEMPLATE)
    return page.render(
        d=data, css=Markup(CSS), run_rows=_rows(data),
        table=lambda head, rows: Markup(table.render(head=head, rows=rows)),
        img=lambda name, alt: Markup(img.render(name=name, alt=alt,
                                                               images=data["images"])),
        format_rows=lambda rows: [[r["format"], r["metric"], r["delta"], r["max_abs_diff"],
                                   None if r["size"] is None else int(r["size"]),
                                   r["latency_ms_b1"], r["latency_ms_b32"],
                                   r["status"].upper() if r["status"] == "marked" else r["status"],
                                   r["note"]] for r in rows],
        zip2=lambda a, b: [list(x) for x in zip(a, b, strict=False)],
        zip3=lambda a, b, c: [list(x) for x in zip(a, b, c, strict=False)])
