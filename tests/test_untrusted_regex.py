"""No project or dataset regex reaches Python's ``re`` (issue 28, item 1), guarded from the source.

Every call of ``re.match/search/fullmatch/findall/finditer/sub/subn/split/compile`` in tcli/
must take a string literal as its pattern: a pattern from a project (a schema's ``pattern``, a
score regexp) goes through :mod:`tcli.safety.rx` (``regex`` with a time budget) instead. The one
exception compiles without matching (``custom_json.compile_score_regexp``: it checks the syntax
and the group count; the matching is done by ``rx.search``). jsonschema's own ``re`` use is
replaced by :mod:`tcli.safety.schemarx` (tested in tests/hostile/test_validate_regex_hostile.py).
"""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "tcli"
FUNCS = {"match", "search", "fullmatch", "findall", "finditer", "sub", "subn", "split", "compile"}
#: (module file, function) allowed to compile a non-literal pattern, each with its reason above
#: - the score regexp: compiled only (matching goes through rx);
#: - engine/containers.py and scaleout/manifests.py (module level): patterns built from
#:   constants of tcli/contract.py, never from a project or dataset
ALLOWED = {("custom_json.py", "compile_score_regexp"), ("engine/containers.py", "<module>"),
           ("scaleout/manifests.py", "<module>")}


def _literal(node: ast.AST) -> bool:
    """A string literal, or an f-string built only from module constants (UPPER or _UPPER)."""
    if isinstance(node, ast.JoinedStr):
        return all(isinstance(v, ast.Constant) or (
            isinstance(v, ast.FormattedValue) and isinstance(v.value, ast.Name)
            and v.value.id.lstrip("_").isupper()) for v in node.values)
    return isinstance(node, ast.Constant) and isinstance(node.value, str | bytes)


def non_literal_calls(source: str, name: str) -> list[str]:
    """``file:line function`` of every ``re.<FUNC>(pattern, ...)`` whose pattern is no literal."""
    tree = ast.parse(source)
    found: list[str] = []

    def visit(node: ast.AST, func: str) -> None:
        for child in ast.iter_child_nodes(node):
            here = child.name if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else func
            if (isinstance(child, ast.Call) and isinstance(child.func, ast.Attribute)
                    and isinstance(child.func.value, ast.Name) and child.func.value.id == "re"
                    and child.func.attr in FUNCS):
                pattern = child.args[0] if child.args else next(
                    (k.value for k in child.keywords if k.arg == "pattern"), None)
                if (pattern is None or not _literal(pattern)) and (name, here) not in ALLOWED:
                    found.append(f"{name}:{child.lineno} {here}")
            visit(child, here)

    visit(tree, "<module>")
    return found


def test_scanner_finds_a_non_literal_pattern() -> None:
    src = ("import re\ndef f(p, s):\n    return re.search(p, s)\nre.match(r'ok', 'x')\n"
           "re.compile(f'^{K}$')\nre.compile(f'^{pattern}$')\n")
    assert non_literal_calls(src, "x.py") == ["x.py:3 f", "x.py:6 <module>"]


def test_no_untrusted_pattern_reaches_re() -> None:
    bad: list[str] = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG).as_posix()
        if rel == "safety/rx.py":
            continue
        bad += non_literal_calls(path.read_text(encoding="utf-8"), rel)
    assert bad == [], f"re called with a non-literal pattern (use tcli.safety.rx): {bad}"


def test_tcli_schema_validator_is_budgeted() -> None:
    from tcli.safety import schemarx
    from tcli.schema import validator_class

    cls = validator_class({"$schema": "http://json-schema.org/draft-07/schema#"})
    assert cls.VALIDATORS["pattern"] is schemarx._pattern
    assert cls.VALIDATORS["patternProperties"] is schemarx._pattern_properties
    assert cls.VALIDATORS["additionalProperties"] is schemarx._additional_properties
