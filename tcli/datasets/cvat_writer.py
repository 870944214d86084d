"""Streaming writer of CVAT for images 1.1 (``annotations.xml``).

Images are written to a body file as they come; ``<meta>`` (labels, their attributes) is
written last and put in front (labels of some formats are known only at the end). Numbers
keep 10 significant digits (CVAT's own export rounds to 2 decimals). Masks use CVAT's RLE:
run lengths over the mask's box (``left top width height``), row by row, starting with a run
of 0s, written as ``"n1, n2, ..."``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any
from xml.sax.saxutils import escape, quoteattr

from tcli.safety import atomic

from .model import Record, Shape

PALETTE = ("#fa3253", "#3d3df5", "#34d1b7", "#ff6037", "#b83df5", "#ffcc33", "#33ddff",
           "#8c78f0", "#2a7dd1", "#83e070", "#f078f0", "#ff007c", "#aaf0d1", "#fafa37")


#: one plain ``<box>`` line: label (quoted), occluded, xtl, ytl, xbr, ybr, z_order
BOX_XML = ('    <box label=%s source="manual" occluded="%d" xtl="%.10g" ytl="%.10g" '
           'xbr="%.10g" ybr="%.10g" z_order="%d">\n    </box>\n')


def _g(v: float) -> str:
    return f"{v:.10g}"


class CvatWriter:
    """``w = CvatWriter(path); w.image(record, name); ...; w.close(labels, attrs)``.

    ``colors``: the labels' colours in ``<meta>``, by label index (cycled); PALETTE by default.
    """

    def __init__(self, path: Path, task_name: str = "imported",
                 colors: Sequence[str] = PALETTE) -> None:
        self.path = path
        self.task_name = task_name
        self.colors = tuple(colors) or PALETTE
        self._body_path = path.with_name(path.name + ".body")
        self._body: IO[str] = open(self._body_path, "w", encoding="utf-8")  # noqa: SIM115
        self._label_attr: list[str] = []
        self._n = 0
        self._buf: list[str] = []
        self._block_chars = 0
        self.shapes = 0

    def _lab(self, labels: list[str], i: int) -> str:
        la = self._label_attr
        if i >= len(la):
            while len(la) < len(labels):
                la.append(quoteattr(labels[len(la)]))
        return la[i]

    def image(self, rec: Record, name: str, labels: list[str]) -> None:
        """Append one ``<image>``; ``labels`` is the (possibly still growing) label list."""
        iid = self._n
        self._n += 1
        buf = self._buf
        if rec.raw_xml is not None:
            from lxml import etree

            el = rec.raw_xml
            el.set("id", str(iid))
            el.set("name", name)
            el.tail = None
            buf.append("  " + etree.tostring(el, encoding="unicode") + "\n")
            self.shapes += len(el)
        else:
            sub = f" subset={quoteattr(rec.subset)}" if rec.subset else ""
            buf.append(f'  <image id="{iid}" name={quoteattr(name)} width="{rec.width}" '
                       f'height="{rec.height}"{sub}>\n')
            if len(self._label_attr) < len(labels):
                self._lab(labels, len(labels) - 1)
            la = self._label_attr
            fmt = BOX_XML
            for s in rec.shapes:
                if s.kind == "box" and not s.attrs and not s.rotation and not s.group:
                    x0, y0, x1, y1 = s.data
                    buf.append(fmt % (la[s.label], s.occluded, x0, y0, x1, y1, s.z_order))
                else:
                    buf.append(self._shape(s, labels))
            if rec.box_xml:
                buf.append(rec.box_xml)
            buf.append("  </image>\n")
            self.shapes += len(rec.shapes) + rec.box_count
        if rec.box_xml:
            self._block_chars += len(rec.box_xml)
        if len(buf) > 4096 or self._block_chars > 1 << 20:
            # about a megabyte at most, whether lines come one by one or a block per image
            self._body.write("".join(buf))
            buf.clear()
            self._block_chars = 0

    def _shape(self, s: Shape, labels: list[str]) -> str:
        lab = self._lab(labels, s.label)
        kind = s.kind
        common = f' occluded="{int(s.occluded)}"'
        if kind == "box":
            x0, y0, x1, y1 = s.data
            head = (f'    <box label={lab} source="manual"{common} xtl="{_g(x0)}" '
                    f'ytl="{_g(y0)}" xbr="{_g(x1)}" ybr="{_g(y1)}"')
            if s.rotation:
                head += f' rotation="{_g(s.rotation)}"'
        elif kind == "polygon":
            d = s.data
            pts = ";".join(f"{_g(d[i])},{_g(d[i + 1])}" for i in range(0, len(d), 2))
            head = f'    <polygon label={lab} source="manual"{common} points="{pts}"'
        elif kind == "mask":
            left, top, w, h, runs = s.data
            rle = ", ".join(map(str, runs))
            head = (f'    <mask label={lab} source="manual"{common} rle="{rle}" '
                    f'left="{left}" top="{top}" width="{w}" height="{h}"')
        else:  # tag
            head = f'    <tag label={lab} source="manual"'
            if s.group:
                head += f' group_id="{s.group}"'
            return self._close(head, "tag", s.attrs)
        head += f' z_order="{s.z_order}"'
        if s.group:
            head += f' group_id="{s.group}"'
        return self._close(head, kind, s.attrs)

    @staticmethod
    def _close(head: str, kind: str, attrs: tuple[tuple[str, str], ...]) -> str:
        if not attrs:
            return head + "/>\n" if kind == "tag" else head + ">\n    </" + kind + ">\n"
        inner = "".join(f"      <attribute name={quoteattr(k)}>{escape(v)}</attribute>\n"
                        for k, v in attrs)
        return f"{head}>\n{inner}    </{kind}>\n"

    def close(self, labels: list[str], label_attrs: dict[int, list[str]],
              raw_meta: bytes | None = None) -> None:
        """Write the final file: header, ``<meta>``, the images, footer (atomic rename)."""
        if self._buf:
            self._body.write("".join(self._buf))
            self._buf.clear()
        self._body.close()
        with atomic.atomic_open(self.path) as out:
            out.write(b'<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n'
                      b"  <version>1.1</version>\n")
            if raw_meta is not None:
                out.write(b"  " + raw_meta.decode("utf-8").strip().encode("utf-8") + b"\n")
            else:
                out.write(self.meta(labels, label_attrs).encode("utf-8"))
            with open(self._body_path, "rb") as body:
                shutil.copyfileobj(body, out, 1 << 20)
            out.write(b"</annotations>\n")
        os.unlink(self._body_path)

    def abort(self) -> None:
        if not self._body.closed:
            self._body.close()
        if self._body_path.exists():  # the final file's temporary one is atomic's to remove
            self._body_path.unlink()

    def meta(self, labels: list[str], label_attrs: dict[int, list[str]]) -> str:
        out = ["  <meta>\n    <task>\n      <id>1</id>\n",
               f"      <name>{escape(self.task_name)}</name>\n",
               f"      <size>{self._n}</size>\n      <mode>annotation</mode>\n",
               "      <labels>\n"]
        for i, name in enumerate(labels):
            out.append(f"        <label>\n          <name>{escape(name)}</name>\n"
                       f"          <color>{self.colors[i % len(self.colors)]}</color>\n"
                       "          <type>any</type>\n          <attributes>\n")
            for a in label_attrs.get(i, ()):
                out.append("            <attribute>\n"
                           f"              <name>{escape(a)}</name>\n"
                           "              <mutable>False</mutable>\n"
                           "              <input_type>text</input_type>\n"
                           "              <default_value></default_value>\n"
                           "              <values></values>\n"
                           "            </attribute>\n")
            out.append("          </attributes>\n        </label>\n")
        out.append("      </labels>\n    </task>\n  </meta>\n")
        return "".join(out)


def mask_runs(mask: Any) -> tuple[int, int, int, int, list[int]] | None:
    """(left, top, width, height, CVAT runs) of a 2-D 0/1 numpy array, cropped to the set
    pixels; None when no pixel is set."""
    import numpy as np

    ys, xs = np.nonzero(mask)
    if not xs.size:
        return None
    x0, x1, y0, y1 = int(xs.min()), int(xs.max()), int(ys.min()), int(ys.max())
    crop = np.ascontiguousarray(mask[y0:y1 + 1, x0:x1 + 1], dtype=np.uint8).ravel()
    change = np.flatnonzero(np.diff(crop)) + 1
    bounds = np.concatenate(([0], change, [crop.size]))
    runs = np.diff(bounds).tolist()
    if crop[0] == 1:
        runs = [0, *runs]
    return x0, y0, x1 - x0 + 1, y1 - y0 + 1, runs
