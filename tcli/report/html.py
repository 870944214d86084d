"""``index.html`` of the report: one self-contained page (inline CSS) naming only written PNGs."""

from __future__ import annotations

from html import escape
from typing import Any


def _fmt(v: Any, digits: int = 4) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.{digits}g}" if abs(v) < 1e-3 and v else f"{v:.{digits}f}".rstrip("0").rstrip(".")
    return escape(str(v))


def _table(head: list[str], rows: list[list[Any]]) -> str:
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _img(data: dict[str, Any], name: str, alt: str) -> str:
    if name not in data["images"]:
        return ""
    return f'<figure><img src="{escape(name)}" alt="{escape(alt)}"></figure>'


CSS = """
body{font:15px/1.45 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
main{max-width:1100px;margin:20px auto;background:#fff;padding:18px 28px 28px;border-radius:8px;
box-shadow:0 1px 3px rgba(0,0,0,.12)}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:22px 0 8px;border-bottom:1px solid #e3e6eb}
.muted{color:#5a6373}.problem{background:#fff5f5;border:1px solid #c62828;color:#8e1b1b;
padding:8px 12px;border-radius:6px}.note{color:#7a5a00}
table{border-collapse:collapse;margin:6px 0}td,th{border:1px solid #d5d9e0;padding:3px 10px;
text-align:left}th{background:#f0f2f5}figure{margin:8px 0}img{max-width:100%;height:auto}
"""


def render(data: dict[str, Any]) -> str:
    parts: list[str] = []
    add = parts.append
    add(f"<h1>tc report: {escape(data['template'])}</h1>")
    add(f'<p class="muted">task {escape(data["task"])} · project {escape(data["project"])}</p>')
    model = data["model"]
    add("<h2>Run</h2>")
    t = data["timings"]
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
    add(_table(["", "value"], rows))
    if model["status"] not in (None, "ok"):
        add(f'<p class="problem" id="model-problem">The ONNX model was not used: '
            f"{escape(model['problem'] or model['status'])}</p>")

    add("<h2>Training curves</h2>")
    if data["metrics"] and data["metrics"]["epochs"]:
        add(_img(data, "curves.png", "loss and metric per epoch"))
        last = data["metrics"]["epochs"][-1]
        add(f'<p class="muted">last epoch {last.get("epoch")}/{last.get("epochs")}: '
            f"images/s {_fmt(last.get('images_per_s'), 3)}, data-wait share "
            f"{_fmt(last.get('data_wait_share'), 2)}, lr {_fmt(last.get('lr'))}</p>")
    else:
        add('<p class="note">No metrics.jsonl beside the model: no per-epoch curves.</p>')

    names = data["classes"]
    val = data["val"]
    add("<h2>Validation set (ONNX model)</h2>")
    if val is None:
        add('<p class="note">No validation images found (see the notes below).</p>')
    else:
        add(f"<p>{val['images']} val images of dataset {val['dataset_id']} (split reproduced "
            f"with seed {val['split_seed']}), classes: {escape(', '.join(names))}</p>")
    cls = data.get("classification")
    if cls:
        add(f"<p>accuracy of the ONNX model: <b>{_fmt(cls['accuracy'])}</b> "
            f"on {cls['images']} images</p>")
        add(_img(data, "confusion.png", "confusion matrix"))
        add(_table(["class", "precision", "recall"],
                   [[n, p, r] for n, p, r in zip(names, cls["precision"], cls["recall"], strict=True)]))
        add(_img(data, "per_class.png", "per-class precision and recall"))
    det = data.get("detection")
    if det:
        add(f"<p>mAP@0.5 of the ONNX model: <b>{_fmt(det['map50'])}</b></p>")
        add(_table(["class", "AP@0.5", "true boxes"],
                   [[n, a, g] for n, a, g in zip(names, det["ap50"], det["ground_truth_boxes"],
                                                 strict=True)]))
        add(_img(data, "per_class.png", "per-class AP"))
        add(_img(data, "pr.png", "precision-recall curves"))
    seg = data.get("segmentation")
    if seg:
        add(f"<p>mean IoU of the ONNX model: <b>{_fmt(seg['miou'])}</b></p>")
        add(_table(["class", "IoU"], [[n, v] for n, v in zip(seg["classes"], seg["iou"], strict=True)]))
        add(_img(data, "per_class.png", "per-class IoU"))
    if "grid.png" in data["images"]:
        add("<h2>Predictions on validation images</h2>")
        add(_img(data, "grid.png", "validation images with predictions"))
    if data["notes"]:
        add("<h2>Notes</h2><ul>" + "".join(f"<li>{escape(n)}</li>" for n in data["notes"]) + "</ul>")
    body = "\n".join(p for p in parts if p)
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>tc report '
            f"{escape(data['template'])}</title><style>{CSS}</style></head>\n<body><main>\n{body}\n"
            "</main></body></html>\n")
