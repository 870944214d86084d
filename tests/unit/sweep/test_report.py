"""The sweep report: self-contained (embedded PNGs, no script, no network), values escaped."""

from __future__ import annotations

from pathlib import Path

from tcli.sweep.report import write_report
from tcli.sweep.result import SweepResult, TrialRow
from tcli.sweep.space import CHOICE, FLOAT, Param

EVIL = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'


def test_report_escapes_values_and_embeds_its_pictures(tmp_path: Path) -> None:
    space = {"weights": Param("weights", CHOICE, choices=(EVIL, "b")),
             "lr": Param("lr", FLOAT, 0.001, 1.0, log=True)}
    rows = [TrialRow(1, "complete", {"weights": EVIL, "lr": 0.01}, 0.5, 3, 10.0, baseline=True),
            TrialRow(2, "complete", {"weights": "b", "lr": 0.1}, 0.7, 3, 9.0),
            TrialRow(3, "pruned", {"weights": "b", "lr": 0.9}, None, 1, 2.0, note=EVIL)]
    res = SweepResult(name="s", template="P/C/A", direction="maximize", score_name=EVIL,
                      trials_asked=3, folder=str(tmp_path), storage="x", trials=rows,
                      best=rows[1], baseline_score=0.5)
    path = Path(write_report(tmp_path, res, space) or "")
    html = path.read_text()
    assert "<script" not in html and "<img src=x" not in html
    assert "&lt;script&gt;" in html
    assert html.count('src="data:image/png;base64,') == 2  # no study: no importance picture
    assert "http://" not in html and "https://" not in html
    assert "default-src 'none'" in html
