"""The confinement rule is written once, in ``tcli/safety/confine.py`` (issue 27, item 3).

"A path resolved (symlinks followed) must be the root or below it" is easy to get almost right
by hand: ``relative_to`` on an unresolved root, ``startswith`` on strings, a loop that raises a
traceback. This test reads every module of tcli outside ``tcli/safety/`` with :mod:`ast` and
fails on a hand-written check: ``is_relative_to``/``relative_to`` (or ``os.path.commonpath``)
applied to a resolved path, i.e. to an expression holding a ``.resolve(...)`` call or to a name
the same function bound to one. Use ``confine.confine`` (raise), ``confine.is_inside`` (a bool
for a finding or a refusal), ``confine.resolve`` (a symlink loop as one line).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "tcli"
#: module -> reason, for a check that truly cannot use tcli/safety/confine.py (none today).
ALLOWED: dict[str, str] = {}


def _resolves(node: ast.AST, resolved: set[str]) -> bool:
    """Whether ``node`` holds a ``.resolve(...)`` call or a name bound to one."""
    for sub in ast.walk(node):
        if (isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute)
                and sub.func.attr == "resolve"):
            return True
        if isinstance(sub, ast.Name) and sub.id in resolved:
            return True
    return False


_FUNCS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


def _scopes(tree: ast.Module) -> list[ast.AST]:
    return [tree, *(n for n in ast.walk(tree) if isinstance(n, _FUNCS))]


def _own(scope: ast.AST) -> list[ast.AST]:
    """The nodes of ``scope`` outside the functions nested in it (each is its own scope)."""
    out: list[ast.AST] = []
    todo = list(ast.iter_child_nodes(scope))
    while todo:
        node = todo.pop()
        out.append(node)
        if not isinstance(node, _FUNCS):
            todo.extend(ast.iter_child_nodes(node))
    return out


def offenders(source: str, filename: str) -> list[str]:
    """The hand-written confinement checks in ``source``."""
    found: set[str] = set()
    for scope in _scopes(ast.parse(source, filename)):
        resolved: set[str] = set()
        own = _own(scope)
        for node in own:
            if isinstance(node, ast.Assign | ast.AnnAssign | ast.NamedExpr) and node.value \
                    is not None and _resolves(node.value, set()):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                resolved |= {t.id for t in targets if isinstance(t, ast.Name)}
        for node in own:
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            func = node.func
            commonpath = func.attr == "commonpath"
            if commonpath or (func.attr in ("is_relative_to", "relative_to")
                              and any(_resolves(n, resolved) for n in (func.value, *node.args))):
                found.add(f"{filename}:{node.lineno}: {ast.unparse(node)[:90]}")
    return sorted(found)


def test_confinement_only_in_safety_confine() -> None:
    found: list[str] = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG.parent).as_posix()
        if rel.startswith("tcli/safety/") or rel in ALLOWED:
            continue
        found += offenders(path.read_text(encoding="utf-8"), rel)
    assert not found, ("check confinement with tcli/safety/confine.py (confine, is_inside, "
                       "resolve):\n" + "\n".join(found))


@pytest.mark.parametrize(("source", "bad"), [
    ("ok = p.resolve().is_relative_to(root)", True),
    ("def f(p, root):\n    real = p.resolve()\n    return real.is_relative_to(root)", True),
    ("def f(p, root):\n    p.resolve().relative_to(root.resolve())", True),
    ("def f(p, root):\n    return p.is_relative_to(root.resolve())", True),
    ("import os\nos.path.commonpath([a, b])", True),
    ("def f(p, root):\n    return p.relative_to(root).as_posix()", False),
    ("def f(p, skip):\n    return not p.is_relative_to(skip)", False),
    ("def f(p):\n    root = p.resolve()\ndef g(d, root):\n    return d.is_relative_to(root)", False),
    ("from tcli.safety.confine import is_inside\nok = is_inside(p, root)", False),
])
def test_the_scan_sees_a_check(source: str, bad: bool) -> None:
    assert bool(offenders(source, "x.py")) is bad
