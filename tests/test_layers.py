"""The layers of tcli (docs/architecture.md), guarded: imports only go down, no cycles, Rich and
Typer only in ui/commands/cli, Docker only in engine/, and every module imports on its own.

The import graph is read with :mod:`ast` from the sources (function-level and TYPE_CHECKING
imports count too), so a lazy import cannot hide an upward dependency.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "tcli"

#: Layer of each module prefix, lowest first; a module may import its own layer or lower ones.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("ground", ("tcli", "tcli.errors", "tcli.contract", "tcli.units", "tcli.schema", "tcli.safety",
                "tcli.paths")),
    ("parsers", ("tcli.parsers",)),
    ("domain", ("tcli.project", "tcli.custom_json", "tcli.buildctx", "tcli.scaffold",
                "tcli.job", "tcli.engine", "tcli.baseimage", "tcli.wheelhouse",
                "tcli.weights")),
    ("features", ("tcli.validate", "tcli.model", "tcli.packaging", "tcli.devrun",
                  "tcli.doctor", "tcli.datasets", "tcli.form", "tcli.report", "tcli.scaleout",
                  "tcli.explain", "tcli.sweep")),
    ("ui", ("tcli.ui",)),
    ("commands", ("tcli.commands",)),
    ("cli", ("tcli.cli", "tcli.__main__")),
]
#: Third-party packages only some layers may import.
RESTRICTED = {
    "rich": ("tcli.ui", "tcli.commands", "tcli.cli"),
    "typer": ("tcli.ui", "tcli.commands", "tcli.cli"),
    "click": ("tcli.ui", "tcli.commands", "tcli.cli"),
    "docker": ("tcli.engine",),
}


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def layer_of(module: str) -> int:
    """Index in LAYERS of the longest prefix that holds ``module``."""
    best, best_len = -1, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if _within(module, prefix) and len(prefix) > best_len:
                best, best_len = index, len(prefix)
    if best < 0:
        raise AssertionError(f"{module}: in no layer of tests/test_layers.py (add it to LAYERS)")
    return best


def modules(pkg: Path = PKG) -> dict[str, Path]:
    """Every module of the package: dotted name -> file."""
    found: dict[str, Path] = {}
    for path in sorted(pkg.rglob("*.py")):
        rel = path.relative_to(pkg.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports(module: str, path: Path, known: set[str]) -> list[tuple[int, str]]:
    """(line, imported name) of every import in ``path``: tcli modules resolved, others by top."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_pkg = path.name == "__init__.py"
    result: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            result.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_pkg else 0)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                result.append((node.lineno, sub if sub in known else target))
    return result


def graph(pkg: Path = PKG) -> tuple[dict[str, list[tuple[int, str]]], dict[str, Path]]:
    found = modules(pkg)
    known = set(found)
    return {name: imports(name, path, known) for name, path in found.items()}, found


def layer_problems(pkg: Path = PKG) -> list[str]:
    """Upward imports and restricted third-party imports, one line each."""
    edges, files = graph(pkg)
    problems: list[str] = []
    for module, targets in sorted(edges.items()):
        own = layer_of(module)
        for line, target in targets:
            where = f"{files[module].relative_to(pkg.parent)}:{line}"
            if _within(target, "tcli"):
                if target not in files:
                    continue
                other = layer_of(target)
                if other > own:
                    problems.append(
                        f"{where}: {module} ({LAYERS[own][0]}) imports {target} "
                        f"({LAYERS[other][0]}), a higher layer"
                    )
                continue
            top = target.split(".")[0]
            allowed = RESTRICTED.get(top)
            if allowed is not None and not any(_within(module, p) for p in allowed):
                problems.append(f"{where}: {module} imports {top} (only {', '.join(allowed)} may)")
    return problems


def cycles(pkg: Path = PKG) -> list[list[str]]:
    """Import cycles between tcli modules (each as the list of modules around it)."""
    edges, files = graph(pkg)
    adj = {m: sorted({t for _, t in ts if t in files and t != m}) for m, ts in edges.items()}
    found: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in adj[node]:
            if state.get(nxt) == 1:
                found.append([*stack[stack.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for module in sorted(adj):
        if module not in state:
            visit(module)
    return found


def test_every_module_has_a_layer() -> None:
    for module in modules():
        layer_of(module)


def test_imports_only_go_down() -> None:
    problems = layer_problems()
    assert not problems, "upward or forbidden imports:\n" + "\n".join(problems)


def test_no_import_cycles() -> None:
    found = cycles()
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_the_guard_sees_an_upward_import(tmp_path: Path) -> None:
    """The checks above can fail: a copy of tcli with one upward import and one cycle."""
    import shutil

    copy = tmp_path / "tcli"
    shutil.copytree(PKG, copy, ignore=shutil.ignore_patterns("__pycache__"))
    units = copy / "units.py"
    units.write_text(units.read_text(encoding="utf-8") + "\n\ndef _x() -> None:\n"
                     "    from tcli.ui import console  # noqa: F401\n", encoding="utf-8")
    problems = layer_problems(copy)
    assert any("tcli.units (ground) imports tcli.ui.console (ui)" in p for p in problems), problems
    project = copy / "project.py"
    project.write_text(project.read_text(encoding="utf-8") + "\nimport tcli.buildctx\n",
                       encoding="utf-8")
    assert any("tcli.project" in c and "tcli.buildctx" in c for c in cycles(copy))


def _import_alone(module: str) -> tuple[str, int, str]:
    # importing tcli.__main__ runs tc: run it as python -m tcli --help instead
    argv = ["-m", "tcli", "--help"] if module == "tcli.__main__" else ["-c", f"import {module}"]
    done = subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=120,
                          check=False)
    last = done.stderr.strip().splitlines()[-1:]
    return module, done.returncode, last[0] if last else ""


@pytest.mark.parametrize("chunk", [0, 1])
def test_each_module_imports_in_a_fresh_interpreter(chunk: int) -> None:
    names = sorted(modules())[chunk::2]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(_import_alone, names))
    failed = [f"{m}: exit {rc} {err}" for m, rc, err in results if rc != 0]
    assert not failed, "modules that do not import on their own:\n" + "\n".join(failed)
