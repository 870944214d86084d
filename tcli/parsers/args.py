"""Parse a template's ``args.py`` with :mod:`ast` (never imported or executed).

Each ``<parser>.add_argument(...)`` call becomes an :class:`ArgOption`.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

NO_VALUE_ACTIONS = frozenset(
    {"store_true", "store_false", "store_const", "count", "help", "version",
     "BooleanOptionalAction"}
)


@dataclass(frozen=True)
class ArgOption:
    """One ``add_argument`` call of args.py, as written (never executed)."""

    line: int
    flags: tuple[str, ...]
    required: bool = False
    action: str | None = None
    nargs: str | None = None

    @property
    def positional(self) -> bool:
        return bool(self.flags) and not self.flags[0].startswith("-")

    @property
    def long_names(self) -> list[str]:
        """Option names without the leading ``--`` (``--batch-size`` -> ``batch-size``)."""
        return [f[2:] for f in self.flags if f.startswith("--")]

    @property
    def takes_value(self) -> bool:
        return self.action not in NO_VALUE_ACTIONS

    @property
    def takes_list(self) -> bool:
        return (self.nargs is not None and self.nargs != "?") or self.action == "extend"


def _const(node: ast.AST) -> object:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return None


def parse_args_py(text: str, filename: str = "args.py") -> list[ArgOption]:
    """Collect every ``<x>.add_argument(...)`` call of ``text`` (SyntaxError propagates)."""
    tree = ast.parse(text, filename=filename)
    options: list[ArgOption] = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "add_argument"):
            continue
        flags = tuple(a.value for a in node.args
                      if isinstance(a, ast.Constant) and isinstance(a.value, str))
        if not flags:
            continue
        kw = {k.arg: _const(k.value) for k in node.keywords if k.arg}
        nargs = kw.get("nargs")
        action = kw.get("action")
        options.append(ArgOption(
            line=node.lineno,
            flags=flags,
            required=kw.get("required") is True,
            action=str(action) if action is not None else None,
            nargs=str(nargs) if nargs is not None else None,
        ))
    options.sort(key=lambda o: o.line)
    return options
