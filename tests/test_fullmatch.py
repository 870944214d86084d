"""No ``$``-anchored regular expression in tcli (issue 28, item 12).

``re.match(r"^[a-z]+$", value)`` accepts ``"abc\\n"``: ``$`` also matches before a trailing
newline, so a newline slips into a manifest, a name or a path. tcli checks values with
``re.fullmatch`` (or anchors with ``\\Z``); this test reads every module with :mod:`ast` and
fails on a pattern literal given to :mod:`re` that holds a ``$`` anchor, unless it is compiled
with ``re.MULTILINE`` (where ``$`` means "end of each line" on purpose).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "tcli"
#: re functions whose first argument is a pattern
_RE_FUNCS = {"compile", "match", "search", "fullmatch", "sub", "subn", "split", "findall",
             "finditer"}


def dollar_anchor(pattern: str) -> bool:
    """Whether ``pattern`` holds an unescaped ``$`` outside a character class."""
    escaped = in_class = False
    for ch in pattern:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "$":
            return True
    return False


def _literal(node: ast.expr) -> str | None:
    """The text of a pattern literal (the constant parts of an f-string), else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str | bytes):
        value = node.value
        return value.decode("latin-1") if isinstance(value, bytes) else value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value for v in node.values
                       if isinstance(v, ast.Constant) and isinstance(v.value, str))
    return None


def _multiline(call: ast.Call) -> bool:
    text = ast.unparse(call)
    return "MULTILINE" in text or "re.M)" in text or "re.M |" in text or "| re.M" in text


def offenders(source: str, filename: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "re"
                and node.func.attr in _RE_FUNCS and node.args):
            continue
        text = _literal(node.args[0])
        if text is not None and dollar_anchor(text) and not _multiline(node):
            found.append(f"{filename}:{node.lineno}: re.{node.func.attr}({text!r})")
    return found


def test_no_dollar_anchored_pattern_in_tcli() -> None:
    found: list[str] = []
    for path in sorted(PKG.rglob("*.py")):
        found += offenders(path.read_text(encoding="utf-8"), str(path.relative_to(PKG.parent)))
    assert not found, ("use re.fullmatch (or \\Z) instead of a $ anchor, which lets a trailing "
                       "newline through:\n" + "\n".join(found))


@pytest.mark.parametrize(("source", "bad"), [
    ('import re\nre.match(r"^[a-z]+$", v)', True),
    ('import re\nX = re.compile(rf"^{A}(:{B})?$")', True),
    ('import re\nre.search(r"(?:;|$)", v)', True),
    ('import re\nre.fullmatch(r"[a-z]+", v)', False),
    ('import re\nre.match(r"[$]\\$", v)', False),
    ('import re\nre.search(r"^x$", v, re.MULTILINE)', False),
])
def test_the_check_itself(source: str, bad: bool) -> None:
    assert bool(offenders(source, "x.py")) is bad


def test_dataset_id_pattern_is_defined_once() -> None:
    """The dataset-id pattern lives in tcli/contract.py only."""
    hits = [str(p) for p in PKG.rglob("*.py")
            if "[1-9][0-9]{0,17}" in p.read_text(encoding="utf-8")]
    assert hits == [str(PKG / "contract.py")]
