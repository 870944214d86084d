"""What ``tc validate`` finds: :class:`Finding`, one :class:`Report` per checked tree, the JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Severity = Literal["error", "warning"]

#: Version of the ``--json`` output format (see docs/validate.md).
JSON_FORMAT_VERSION = 1


@dataclass(frozen=True)
class Finding:
    """One problem found in a checked tree."""

    severity: Severity
    code: str
    file: str
    message: str
    fix: str = ""
    pointer: str | None = None
    line: int | None = None
    column: int | None = None
    target: str = "project"

    @property
    def location(self) -> str:
        """``line:col``, ``line N``, a JSON pointer, or empty."""
        if self.line is not None:
            return f"{self.line}:{self.column}" if self.column is not None else f"line {self.line}"
        return self.pointer or ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity, "code": self.code, "target": self.target,
            "file": self.file, "pointer": self.pointer, "line": self.line,
            "column": self.column, "message": self.message, "fix": self.fix,
        }

    def sort_key(self) -> tuple[Any, ...]:
        return (self.target != "project", self.file, self.line or 0, self.column or 0,
                self.pointer or "", self.code, self.message)


@dataclass
class Report:
    """Findings for one checked tree (a project or a ZIP)."""

    kind: Literal["project", "zip"]
    path: Path
    templates: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    def failed(self, strict: bool = False) -> bool:
        return bool(self.errors) or (strict and bool(self.warnings))


@dataclass
class Verdict:
    """What ``tc validate`` prints: its reports, judged with or without ``--strict``."""

    reports: list[Report]
    strict: bool = False

    def to_json(self) -> str:
        return json.dumps(to_json(self.reports, self.strict), indent=2)


def to_json(reports: list[Report], strict: bool = False) -> dict[str, Any]:
    """The documented ``tc validate --json`` object (docs/validate.md)."""
    findings = [f for r in reports for f in r.findings]
    errors = sum(1 for f in findings if f.severity == "error")
    warnings = sum(1 for f in findings if f.severity == "warning")
    return {
        "version": JSON_FORMAT_VERSION,
        "ok": not (errors or (strict and warnings)),
        "strict": strict,
        "summary": {"errors": errors, "warnings": warnings},
        "targets": [
            {"kind": r.kind, "path": str(r.path), "templates": r.templates} for r in reports
        ],
        "findings": [f.to_dict() for f in findings],
    }
