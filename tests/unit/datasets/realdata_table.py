"""Print the real-data corpus table for docs/datasets.md ("Real-data corpus").

    PYTHONPATH=. python -m tests.unit.datasets.realdata_table

Per entry: tc's images/objects (``tc dataset import``), the independent reader's, the in-image
stage's training objects (``dataset.prepare``, detection) against the reader's, and the
differences (the same comparison as tests/unit/datasets/test_realdata.py).
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
import tempfile
from pathlib import Path

from tcli.datasets.importer import import_dataset
from tcli.errors import InputError

from .realdata import ROOT, differences, read_tc_output, subsets, training_objects
from .realdata_corpus import CORPUS, Entry

REPO = Path(__file__).resolve().parents[3]
for _d in ("common", "datasets"):
    sys.path.insert(0, str(REPO / "scaffolds" / "project" / _d))

from .conftest import run_prepare  # noqa: E402


def _source(entry: Entry) -> str:
    prov = (entry.path / "PROVENANCE.md").read_text()
    m = re.search(r"github\.com/(\S+) @ `([0-9a-f]{7})[0-9a-f]*`[^`]*`([^`]*)`", prov)
    return f"{m.group(1)}@{m.group(2)} `{m.group(3)}`" if m else "?"


def _short(text: str) -> str:
    """A message as inline code (``<size>`` would be read as HTML), shortened."""
    text = text.replace(str(ROOT) + "/", "").replace("|", "\\|").replace("`", "'")
    return "`" + (text if len(text) < 110 else text[:107] + "...") + "`"


def _row(entry: Entry, tc: str, reader: str, stage: str, diff: str) -> str:
    return f"| {entry.name} | {entry.fmt} | {_source(entry)} | {tc} | {reader} | {stage} | {diff} |"


def row(entry: Entry) -> str:
    quiet = io.StringIO()
    with contextlib.redirect_stdout(quiet):
        want = entry.read()
    n_img, n_obj = len(want), sum(len(im.objs) for im in want.values())
    reader = f"{n_img} / {n_obj}" if entry.refusal is None else "refuse"
    stage_want = sum(len(v) for v in training_objects(want).values())
    with tempfile.TemporaryDirectory() as tmp:
        try:
            res = import_dataset(entry.path, Path(tmp) / "minio")
        except InputError as exc:
            tc = "exit 2"
            diff = "refused: " + _short(str(exc))
            if entry.refusal is not None and all(w in str(exc).lower() for w in entry.refusal):
                diff = "none (refused: " + _short(str(exc)) + ")"
            return _row(entry, tc, reader, f"- / {stage_want}", diff)
        tc = f"{res.images} / {res.shapes}" + ("" if res.format == entry.fmt else f" (as {res.format})")
        if entry.refusal is not None:
            return _row(entry, tc, "refuse", "-", "imported, expected a refusal")
        if not entry.import_ok:
            return _row(entry, tc, reader, "-", "(inspect only)")
        out = read_tc_output(res.target)
        diff_lines = differences(want, out, superset=entry.superset)
        want_sub, got_sub = subsets(want), subsets(out)
        lost = [rel for rel in want_sub if rel in got_sub and want_sub[rel] != got_sub[rel]]
        if lost and any(want_sub.values()):
            diff_lines.append(f"subset of {len(lost)} image(s) not kept (e.g. {lost[0]}: "
                              f"{got_sub[lost[0]]!r}, expected {want_sub[lost[0]]!r})")
        try:
            with contextlib.redirect_stdout(quiet):
                det = run_prepare(res.target.parents[1], 1, Path(tmp) / "stage", "detection")
            stage = str(sum(len(v) for v in det["per_image"].values()))
        except Exception as exc:  # the table shows whatever the stage says
            stage = f"error: {_short(str(exc))}"
    if stage != str(stage_want) and not entry.superset:
        diff_lines.append(f"in-image stage: {stage} training objects, expected {stage_want}")
    diff = "none" if not diff_lines else (_short(diff_lines[0]) + (
        f" (+{len(diff_lines) - 1} more)" if len(diff_lines) > 1 else ""))
    return _row(entry, tc, reader, f"{stage} / {stage_want}", diff)


def main() -> None:
    print("| entry | format | source | tc images / objects | reader images / objects "
          "| in-image objects: stage / reader | difference |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for entry in CORPUS.values():
        print(row(entry))


if __name__ == "__main__":
    main()
