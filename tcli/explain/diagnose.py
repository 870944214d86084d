"""Explain a failed run: the catalogue's log signatures plus the checks that need the run's
state or the project (OOM kill, score regexp, model file), and reading a ``failure.json``.

Pure functions over lines and values; the command and dev-run gather them (docs/explain.md).
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from tcli.contract import SCORE_REGEXP_KEY
from tcli.errors import InputError
from tcli.explain import catalogue
from tcli.explain.catalogue import Finding
from tcli.safety import rx

#: ``schema`` of the failure.json the entrypoint writes (docs/explain.md).
FAILURE_SCHEMA = "tc-failure/1"
STAGES = ("mount", "setup", "train", "export")
#: Last log lines kept in an explanation.
TAIL = 15


@dataclass
class Explanation:
    """What ``tc explain`` found (``--json`` prints it)."""

    source: str
    findings: list[Finding]
    exit_code: int | None = None
    stage: str | None = None
    last_lines: list[str] = field(default_factory=list)

    @property
    def recognised(self) -> bool:
        return bool(self.findings)

    def to_json(self) -> str:
        return json.dumps({
            "source": self.source, "recognised": self.recognised, "stage": self.stage,
            "exit_code": self.exit_code, "findings": [f.as_dict() for f in self.findings],
            "last_lines": self.last_lines,
        }, indent=2)


@dataclass(frozen=True)
class ScoreRule:
    """custom.json's score regexp and where it comes from (for the message)."""

    pattern: Any  # a compiled pattern, matched through tcli.safety.rx
    origin: str  # e.g. templates/p/c/a/config/custom.json


def oom_finding(exit_code: int, confirmed: bool = True) -> Finding:
    seen = (f"exit {exit_code}, OOMKilled" if confirmed
            else f"exit {exit_code}: SIGKILL, most often the OOM killer")
    return Finding(
        catalogue.OOM_KILLED, "container killed for memory",
        f"the kernel's OOM killer stopped the training ({seen}): the process used more "
        "memory than the container may",
        "lower batch_size, num_workers or the image size in train_config.json, or give the "
        "container more memory (--memory, Docker Desktop's limit)",
    )


def model_finding(problem: str, model_filepath: str) -> Finding:
    return Finding(
        catalogue.MODEL_MISSING, "model file missing",
        problem, f"train.py must save the model to custom.json's model_filepath "
                 f"({model_filepath}), after training and before it exits",
    )


def _skeleton(pattern: str) -> str:
    """The literal text of a regexp, roughly (for similarity only)."""
    return re.sub(r"\\[dDsSwW]|[\\^$()\[\]{}*+?|.]", " ", pattern)


def nearest_line(pattern: str, lines: list[str]) -> str | None:
    """The log line most like ``pattern``'s literal text (None when nothing is close)."""
    target = " ".join(_skeleton(pattern).split()).lower()
    best, best_ratio = None, 0.35
    for line in lines[-2000:]:
        text = " ".join(line.split()).lower()[:300]
        if not text:
            continue
        ratio = difflib.SequenceMatcher(None, target, text).ratio()
        if ratio > best_ratio:
            best, best_ratio = line.strip()[:300], ratio
    return best


def _spacing_hint(pattern: str, line: str) -> str:
    loose = re.sub(r"(?: |\\ )+", r"\\s+", pattern)
    if loose != pattern and rx.search(loose, line, what=SCORE_REGEXP_KEY):
        runs = max((len(m) for m in re.findall(r" +", pattern)), default=1)
        return (f"; the pattern expects {runs} spaces where the line has other spacing"
                if runs > 1 else "; the spacing differs")
    return ""


def score_findings(rule: ScoreRule, lines: list[str]) -> list[Finding]:
    """The score regexp matching nothing, or more than once (the platform reads the first)."""
    text = "\n".join(lines) + "\n"
    pattern_text = str(getattr(rule.pattern, "pattern", rule.pattern))
    shown = f"score_regexp `{pattern_text}` from {rule.origin}"
    first = rx.search(rule.pattern, text, what="custom.json score_regexp")
    if first is None:
        near = nearest_line(pattern_text, lines)
        cause = f"{shown} matched nothing"
        evidence: tuple[tuple[int, str], ...] = ()
        if near is not None:
            cause += f"; the nearest line was `{near}`" + _spacing_hint(pattern_text, near)
            evidence = ((next(i for i, ln in enumerate(lines, 1) if ln.strip()[:300] == near),
                         near),)
        return [Finding(catalogue.SCORE_NO_MATCH, "score line not found", cause,
                        "make train.py print its final score in exactly that form, or fix "
                        f"score_regexp in {rule.origin} (group 1 is the score)", evidence)]
    second = rx.search(rule.pattern, text[first.end():], what="custom.json score_regexp")
    if second is None:
        return []
    hits = [(i, ln.strip()) for i, ln in enumerate(lines, 1)
            if rx.search(rule.pattern, ln + "\n", what="custom.json score_regexp")][:3]
    return [Finding(
        catalogue.SCORE_TWICE, "score line printed more than once",
        f"{shown} matched more than once; the platform reads the FIRST match "
        f"({first.group(1)!s}), not the last",
        "print the score line once, at the end of training (log per-epoch values in "
        "another form)", tuple(hits))]


def explain_lines(lines: list[str], *, source: str, exit_code: int | None = None,
                  oom_killed: bool = False, stage: str | None = None,
                  score: ScoreRule | None = None, model_problem: str | None = None,
                  model_filepath: str = "") -> Explanation:
    """Everything recognised about one run, primary cause first."""
    findings: list[Finding] = []
    if oom_killed or (exit_code == 137 and not catalogue.scan(lines)):
        findings.append(oom_finding(exit_code if exit_code is not None else 137, oom_killed))
    findings += catalogue.scan(lines)
    if not findings and exit_code in (0, None) and score is not None:
        findings += score_findings(score, lines)
    if model_problem is not None and not findings and exit_code in (0, None):
        findings.append(model_finding(model_problem, model_filepath))
    tail = [ln.rstrip()[:500] for ln in lines[-TAIL:]]
    return Explanation(source, findings, exit_code, stage, tail)


def is_failure_json(data: bytes) -> bool:
    head = data[:200].lstrip()
    return head.startswith(b"{") and FAILURE_SCHEMA.encode() in data[:4096]


def read_failure_json(data: bytes, name: str) -> dict[str, Any]:
    """The fields of a failure.json; InputError naming the file and field when unusable."""
    from tcli.safety import jsonload

    doc = jsonload.loads(data, name=name)
    if not isinstance(doc, dict) or doc.get("schema") != FAILURE_SCHEMA:
        raise InputError(f"{name}: not a tc failure file (no \"schema\": \"{FAILURE_SCHEMA}\")",
                         "give a log file or the failure.json a train container wrote")
    stage = doc.get("stage")
    if stage is not None and stage not in STAGES:
        raise InputError(f"{name}: stage {stage!r} is not one of {', '.join(STAGES)}")
    code = doc.get("exit_code")
    if code is not None and (not isinstance(code, int) or isinstance(code, bool)):
        raise InputError(f"{name}: exit_code must be an integer")
    tail = doc.get("last_lines", [])
    if not isinstance(tail, list) or not all(isinstance(x, str) for x in tail):
        raise InputError(f"{name}: last_lines must be a list of strings")
    return doc
