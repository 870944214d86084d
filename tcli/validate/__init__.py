"""``tc validate``: find locally what the platform would reject, late or early.

Two kinds of trees are checked with the same rules:

* a generated **project** (``common/``, ``datasets/``, ``export/``, ``templates/P/C/A/``), and
* an extracted **ZIP** as ``tc package`` writes it (``train-container-publish/`` with the
  flat runtime files and ``P/C/A/{config,docker}``).

The rules live in one module each and are registered in :data:`RULES`; each has
``check_tree(ctx)`` (once per tree) and ``check(ctx, template)`` (once per template) over a
shared :class:`~tcli.validate.context.Context` that caches files and collects
:class:`~tcli.validate.findings.Finding` objects into a :class:`~tcli.validate.findings.Report`.
No Typer or Rich here; :mod:`tcli.ui.findings` renders the report.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Protocol

from tcli.contract import DEFAULT_MAX_FILE_SIZE
from tcli.errors import InputError
from tcli.project import Project, TemplateRef
from tcli.safety import limits
from tcli.safety.zipread import unsafe_member_reason
from tcli.validate import (
    rules_args,
    rules_config,
    rules_files,
    rules_schema,
    rules_structure,
    rules_weights,
)
from tcli.validate.context import Context, Tree, project_tree, zip_tree
from tcli.validate.findings import Finding, Report, Verdict, to_json
from tcli.validate.upload import read_zip

__all__ = [
    "RULES", "Finding", "Report", "Rule", "Tree", "Verdict", "read_zip", "run_rules", "to_json",
    "unsafe_member_reason", "validate_project", "validate_zip", "zip_tree",
]


class Rule(Protocol):
    """A rule module."""

    def check_tree(self, ctx: Context) -> None: ...

    def check(self, ctx: Context, ref: TemplateRef) -> None: ...


#: Every rule, in the order they run (the findings are sorted afterwards).
RULES: tuple[Rule, ...] = (rules_structure, rules_files, rules_schema, rules_config, rules_args,
                          rules_weights)


def run_rules(ctx: Context) -> list[Finding]:
    """Run :data:`RULES` over the context's tree; the findings, sorted."""
    for rule in RULES:
        rule.check_tree(ctx)
    for ref in ctx.tree.templates:
        for rule in RULES:
            rule.check(ctx, ref)
    return sorted(ctx.findings, key=Finding.sort_key)


#: Largest ``--log`` read (a recorded train.py log; the score line is searched in it).
MAX_LOG_BYTES = 64 * 1024 * 1024


def read_log(path: Path) -> str:
    """The ``--log`` file: a regular file (a FIFO or device is refused without blocking) of at
    most :data:`MAX_LOG_BYTES` (tcli.safety.limits)."""
    return limits.read_text(path, max_bytes=MAX_LOG_BYTES, what=f"--log {path}", errors="replace")


def validate_project(path: Path | str, *, templates: list[str] | None = None,
                     log: Path | None = None,
                     max_file_size: int = DEFAULT_MAX_FILE_SIZE) -> Report:
    """Check a generated project; InputError when ``path`` is not a project."""
    project = Project.load(path)
    tree = project_tree(project, templates)
    log_text = read_log(log) if log is not None else None
    ctx = Context(tree, log_text=log_text, log_name=str(log) if log else "",
                  max_file_size=max_file_size)
    findings = run_rules(ctx)
    return Report("project", project.root, [r.key for r in tree.templates], findings)


def validate_zip(zip_path: Path | str, *, log: Path | None = None,
                 max_file_size: int = DEFAULT_MAX_FILE_SIZE,
                 extract_to: Path | None = None) -> Report:
    """Check a packaged ZIP: member names, then every rule on the extracted tree.

    ``extract_to`` keeps the extracted tree there (``tc package --verify`` builds from it);
    by default a temporary folder is used and removed.
    """
    zip_path = Path(zip_path)
    if not zip_path.is_file():
        raise InputError(f"--zip {zip_path}: no such file", "pass the ZIP 'tc package' wrote")
    log_text = read_log(log) if log is not None else None
    with tempfile.TemporaryDirectory(prefix="tc-validate-") as tmp:
        dest = extract_to if extract_to is not None else Path(tmp)
        dest.mkdir(parents=True, exist_ok=True)
        member_findings, tree = read_zip(zip_path, dest, max_file_size=max_file_size)
        ctx = Context(tree, log_text=log_text, log_name=str(log) if log else "",
                      max_file_size=max_file_size)
        findings = member_findings + run_rules(ctx)
    findings.sort(key=Finding.sort_key)
    return Report("zip", zip_path.resolve(), [r.key for r in tree.templates], findings)
